"""Member sync of one onboarded partner, with that partner's token (part of Check for updates).

1. Fetch (async, before any write): every page of `bc/member/get/` once per `relation_status`, and for
   each of your assets shared with the partner (share type SHARING) every page of
   `bc/asset/member/get/` on the partner's BC, which says which members reach it and with what role.
2. Apply (in the caller's one transaction per partner): diff the fetched members against the stored
   ones, keyed by (partner BC id, user_id or lower(e-mail)); an invitee who joins (e-mail key → user_id
   key) keeps its row and history. New members get `first_seen`, everyone seen gets `last_seen`, those
   gone get `removed_at`; every difference becomes a `member_changes` row of the task. The diff runs in
   Arrow (the snapshot as Arrow tables, joined with the stored rows read from DuckDB); `make_plan` is the same
   diff in Python, the reference the tests hold it to. Only rows that differ are written, in place (UPDATE ...
   FROM the changed rows, INSERT of new keys; no delete + re-insert), with each member's reach (asset count,
   text, admin flag); everyone still current gets `last_seen` from one UPDATE.

The mass-removal safeguard (`settings_kv` key `sync.mass_removal_threshold_pct`, default 20) raises
`SyncHalted` inside the transaction when a sync would remove more than that share of the partner's
current members, so nothing is applied. Any failure leaves the partner's stored data as it was and
records the partner's connection state: `reconnect_required` for a rejected token, else `sync_failed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from core import audit, partners, tokens
from core.jobs import Counts, JobHandle
from core.roles import Actor, require_admin
from core.services import Services
from core.store import Store, bulk_insert
from core.tiktok.client import TikTokClient
from core.tiktok.errors import TikTokError, TokenRejectedError

log = logging.getLogger(__name__)

THRESHOLD_KEY = "sync.mass_removal_threshold_pct"
DEFAULT_THRESHOLD_PCT = 20.0
RELATION_STATUSES = ("BOUND", "PENDING", "REJECTED", "UNBOUND")
CALL_CONCURRENCY = 4  # per partner; the app-wide token bucket still bounds the total rate
SYNCABLE_CONNECTIONS = ("connected", "sync_failed")

ADDED, REMOVED = "added", "removed"
ROLE_CHANGED, FINANCE_ROLE_CHANGED, STATUS_CHANGED = "role_changed", "finance_role_changed", "status_changed"
_TRACKED = (("user_role", ROLE_CHANGED), ("finance_role", FINANCE_ROLE_CHANGED),
            ("relation_status", STATUS_CHANGED))

_TS = pa.timestamp("us", tz="UTC")
MEMBER_SCHEMA = pa.schema([
    ("partner_bc_id", pa.string()), ("member_key", pa.string()), ("user_id", pa.string()),
    ("user_name", pa.string()), ("user_email", pa.string()), ("user_role", pa.string()),
    ("finance_role", pa.string()), ("relation_status", pa.string()), ("first_seen", _TS), ("last_seen", _TS),
    ("removed_at", _TS), ("first_task_id", pa.int64()), ("added_task_id", pa.int64()),
    ("last_task_id", pa.int64()),
])
ASSET_SCHEMA = pa.schema([
    ("partner_bc_id", pa.string()), ("member_key", pa.string()), ("asset_id", pa.string()),
    ("asset_type", pa.string()), ("asset_name", pa.string()), ("asset_role", pa.string()), ("synced_at", _TS),
])
CHANGE_SCHEMA = pa.schema([
    ("task_id", pa.int64()), ("partner_bc_id", pa.string()), ("member_key", pa.string()),
    ("change", pa.string()), ("old_value", pa.string()), ("new_value", pa.string()), ("changed_at", _TS),
])


class MemberSyncError(Exception):
    """A user-facing reason a partner's member sync stopped; nothing of it was applied."""


class SyncHalted(MemberSyncError):
    """The mass-removal safeguard stopped the sync."""


@dataclass(frozen=True)
class Snapshot:
    """What TikTok says now about one partner BC's members and their reach on your shared assets."""

    partner_bc_id: str
    members: dict[str, dict[str, str | None]]  # member key → fetched fields
    asset_roles: list[dict[str, str | None]]  # member_key, asset_id, asset_type, asset_name, asset_role


@dataclass
class Plan:
    """The partner's member rows after this sync, its change rows, and the re-keyed invitees."""

    rows: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    rekeys: dict[str, str] = field(default_factory=dict)
    current_before: int = 0
    counts: Counts = field(default_factory=Counts)


def member_key(item: dict) -> str | None:
    """user_id, or the lower-cased e-mail of an invitee without one; None when neither is present."""
    user_id = str(item.get("user_id") or "").strip()
    if user_id:
        return user_id
    email = str(item.get("user_email") or "").strip().lower()
    return email or None


def applies_to(partner: partners.Partner) -> bool:
    """Whether Check for updates syncs this partner's members (onboarded, or onboarded and last failed)."""
    return partner.token_id is not None and partner.connection in SYNCABLE_CONNECTIONS


# -- settings ---------------------------------------------------------------------------------------


def threshold_pct(store: Store) -> float:
    """The mass-removal safeguard in percent of a partner's current members."""
    with store.read() as cur:
        row = cur.execute("SELECT value FROM settings_kv WHERE key = ?", [THRESHOLD_KEY]).fetchone()
    try:
        value = float(row[0]) if row and row[0] is not None else DEFAULT_THRESHOLD_PCT
    except ValueError:
        log.warning("settings_kv %s is not a number (%r): using %g%%", THRESHOLD_KEY, row[0], DEFAULT_THRESHOLD_PCT)
        return DEFAULT_THRESHOLD_PCT
    return value if 0 <= value <= 100 else DEFAULT_THRESHOLD_PCT


def set_threshold_pct(store: Store, actor: Actor, pct: float) -> None:
    """Change the safeguard (admins; audited); 100 turns it off."""
    require_admin(actor, "change the mass-removal safeguard")
    if not 0 <= pct <= 100:
        raise ValueError("the mass-removal safeguard is a percentage between 0 and 100")
    with store.write() as cur:
        cur.execute(
            """INSERT INTO settings_kv (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
                                               updated_by = excluded.updated_by""",
            [THRESHOLD_KEY, f"{pct:g}", datetime.now(UTC), actor.email],
        )
        audit.record(store, actor=actor.email, action="settings.mass_removal_threshold", target=THRESHOLD_KEY,
                     outcome="ok", detail=f"{pct:g}%")


# -- the whole partner step -------------------------------------------------------------------------


async def sync_partner(services: Services, client: TikTokClient, job: JobHandle, partner: partners.Partner,
                       shared_assets: list[dict], *, task_id: int,
                       also_write: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> Counts:
    """Fetch, then apply in one transaction (with `also_write`, e.g. the partner's assets); returns counts.

    Raises TikTokError or MemberSyncError after recording the partner's connection state.
    """
    try:
        snapshot = await fetch(services, client, partner, shared_assets, job)
        # In a worker thread: the other partners' requests keep flowing while this one is written.
        return await asyncio.to_thread(_write, services.store, snapshot, partner.name, task_id, also_write)
    except TokenRejectedError as exc:
        partners.set_connection(services.store, partner.bc_id, "reconnect_required",
                                error=f"TikTok rejected the monitor account's token ({exc.code}): reconnect.")
        raise
    except (TikTokError, MemberSyncError) as exc:
        partners.set_connection(services.store, partner.bc_id, "sync_failed", error=str(exc))
        raise


def _write(store: Store, snapshot: Snapshot, partner_name: str, task_id: int,
           also_write: Callable[[duckdb.DuckDBPyConnection], None] | None) -> Counts:
    """The partner's one transaction: `also_write`, then the members diff."""
    now = datetime.now(UTC)
    threshold = threshold_pct(store)
    with store.write() as cur:
        if also_write is not None:
            also_write(cur)
        return apply(cur, snapshot, partner_name=partner_name, task_id=task_id, now=now, threshold=threshold)


# -- fetch ------------------------------------------------------------------------------------------


async def fetch(services: Services, client: TikTokClient, partner: partners.Partner,
                shared_assets: Iterable[dict], job: JobHandle) -> Snapshot:
    """Read the partner BC's members and who reaches each SHARING asset; nothing is written."""
    token = tokens.load(services.store, services.box, partner.token_id)
    if token is None:
        raise MemberSyncError(f"{partner.name} has no stored token: connect the partner again.")
    sharing = _unique_assets(a for a in shared_assets if a.get("share_type") == partners.SHARING)
    total, done = len(RELATION_STATUSES) + len(sharing), 0
    gate = asyncio.Semaphore(CALL_CONCURRENCY)

    async def call(listing: Callable[[], Awaitable[list[dict]]]) -> list[dict]:
        nonlocal done
        async with gate:
            result = await listing()
        done += 1
        job.progress(done, total)
        return result

    listings = await asyncio.gather(
        *(call(lambda s=s: client.get_members(token, partner.bc_id, {"relation_status": s}))
          for s in RELATION_STATUSES),
        *(call(lambda a=a: client.get_asset_members(token, partner.bc_id, a["asset_type"], a["asset_id"]))
          for a in sharing),
    )
    job.progress(total, total, force=True)
    members = _members_by_key(item for listing in listings[:len(RELATION_STATUSES)] for item in listing)
    roles = [_asset_role(asset, item) for asset, listing in zip(sharing, listings[len(RELATION_STATUSES):],
                                                                 strict=True) for item in listing]
    return Snapshot(partner.bc_id, members, [r for r in roles if r["member_key"]])


def _unique_assets(assets: Iterable[dict]) -> list[dict]:
    seen: dict[tuple[str, str], dict] = {}
    for asset in assets:
        seen.setdefault((str(asset["asset_id"]), str(asset["asset_type"])), asset)
    return list(seen.values())


def _text(value: object) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value)


def _members_by_key(items: Iterable[dict]) -> dict[str, dict[str, str | None]]:
    members: dict[str, dict[str, str | None]] = {}
    for item in items:
        key = member_key(item)
        if key is None:
            log.warning("bc/member/get/ returned a member without user_id or user_email; skipped")
            continue
        ext = item.get("ext_user_role") if isinstance(item.get("ext_user_role"), dict) else {}
        members[key] = {
            "user_id": _text(item.get("user_id")), "user_name": _text(item.get("user_name")),
            "user_email": _text(item.get("user_email")), "user_role": _text(item.get("user_role")),
            "finance_role": _text(ext.get("finance_role")), "relation_status": _text(item.get("relation_status")),
        }
    return members


def _asset_role(asset: dict, item: dict) -> dict[str, str | None]:
    role = item.get("advertiser_role") or item.get("catalog_role") or item.get("asset_role")
    return {"member_key": member_key(item), "asset_id": str(asset["asset_id"]),
            "asset_type": str(asset["asset_type"]), "asset_name": _text(asset.get("asset_name")),
            "asset_role": _text(role)}


# -- plan and apply ---------------------------------------------------------------------------------


def apply(cur: duckdb.DuckDBPyConnection, snapshot: Snapshot, *, partner_name: str, task_id: int,
          now: datetime, threshold: float) -> Counts:
    """Write one partner's snapshot inside the caller's transaction; SyncHalted applies nothing.

    `_diff` joins the snapshot with the stored rows in Arrow and gives every member row after the sync beside
    its stored values; the change rows are projections of it, and only the rows that differ are written (plus
    one statement for everyone's `last_seen`): the same result as `make_plan`, without Python objects per row.
    """
    bc_id = snapshot.partner_bc_id
    stored_rows = _read_stored(cur, bc_id, {})
    stored = _stored_keys(stored_rows)
    rekeys = _find_rekeys(stored, snapshot.members)
    if rekeys:
        stored_rows = _read_stored(cur, bc_id, rekeys)
    assets = _asset_table(snapshot, now)
    diff = _diff(stored_rows, snapshot, assets, now=now, task_id=task_id)
    changes = _change_rows(diff, task_id=task_id, bc_id=bc_id, now=now)
    current = sum(row["removed_at"] is None for row in stored.values())
    plan = Plan(rekeys=rekeys, current_before=current, counts=_counts(changes))
    check_safeguard(plan, partner_name=partner_name, threshold=threshold)
    _rekey_history(cur, bc_id, rekeys)
    _write_members(cur, bc_id, diff, rekeys, {"now": now, "task": task_id})
    _write_assets(cur, bc_id, assets, now)
    bulk_insert(cur, "member_changes", changes)
    _record_sync(cur, bc_id, task_id=task_id, now=now, members=len(snapshot.members), counts=plan.counts)
    return plan.counts


def _diff(stored: pa.Table, snapshot: Snapshot, assets: pa.Table, *, now: datetime, task_id: int) -> pa.Table:
    """Every member row after the sync beside its stored values, computed in Arrow (see `_next_rows`)."""
    fetched = _fetched_table(snapshot)
    fetched = fetched.rename_columns([c if c == "member_key" else f"f_{c}" for c in fetched.column_names])
    fetched = fetched.append_column("seen", pa.array([True] * fetched.num_rows, pa.bool_()))
    stored = stored.rename_columns([c if c == "member_key" else f"old_{c}" for c in stored.column_names])
    stored = stored.append_column("in_store", pa.array([True] * stored.num_rows, pa.bool_()))
    joined = fetched.join(stored, keys="member_key", join_type="full outer", coalesce_keys=True)
    joined = joined.sort_by("member_key")
    return _next_rows(joined, _reach(assets), bc_id=snapshot.partner_bc_id, now=now, task_id=task_id)


def _read_stored(cur: duckdb.DuckDBPyConnection, bc_id: str, rekeys: dict[str, str]) -> pa.Table:
    """The partner's stored members (re-keys applied when there are any), with their rowid in `rid`."""
    if not rekeys:
        stored = cur.sql(_STORED_CTE + " SELECT * FROM stored", params={"bc": bc_id}).to_arrow_table()
    else:
        cur.register("_pw_rekeys", _rekey_table(rekeys))
        try:
            stored = cur.sql(_REKEYED_CTE + " SELECT * FROM stored", params={"bc": bc_id}).to_arrow_table()
        finally:
            cur.unregister("_pw_rekeys")
    for name in ("first_seen", "last_seen", "removed_at"):  # the session's time zone name varies
        stored = stored.set_column(stored.schema.get_field_index(name), name, stored.column(name).cast(_TS))
    return stored


def _reach(assets: pa.Table) -> pa.Table:
    """Per member: the number of assets reached, the display text ("Acme Ads (ADVERTISER: ADMIN); ..."
    ordered by asset name, then id) and whether any role is ADMIN."""
    ordered = assets.sort_by([("member_key", "ascending"), ("asset_name", "ascending"), ("asset_id", "ascending")])
    text = pc.binary_join_element_wise(
        pc.coalesce(ordered.column("asset_name"), ordered.column("asset_id")), " (", ordered.column("asset_type"),
        ": ", pc.coalesce(ordered.column("asset_role"), "?"), ")", "")
    admin = pc.fill_null(pc.equal(ordered.column("asset_role"), "ADMIN"), False)
    grouped = (pa.table({"member_key": ordered.column("member_key"), "text": text, "admin": admin})
               .group_by("member_key", use_threads=False)  # one thread keeps each list in the sorted order
               .aggregate([("text", "list"), ("text", "count"), ("admin", "any")]))
    return pa.table({"member_key": grouped.column("member_key"), "count": grouped.column("text_count"),
                     "text": pc.binary_join(grouped.column("text_list"), "; "), "admin": grouped.column("admin_any")})


def _distinct(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
    """SQL's `a IS DISTINCT FROM b`."""
    return pc.if_else(pc.or_(pc.is_null(a), pc.is_null(b)), pc.xor(pc.is_null(a), pc.is_null(b)), pc.not_equal(a, b))


def _next_rows(joined: pa.Table, reach: pa.Table, *, bc_id: str, now: datetime, task_id: int) -> pa.Table:
    """What `make_plan` puts in `Plan.rows` (with the reach), the stored values the change rows need (`old_*`),
    what happened to each member, and `dirty`: whether its row must be written beyond the `last_seen` and
    `last_task_id` that every current member gets."""
    col = joined.column
    seen, in_store = pc.is_valid(col("seen")), pc.is_valid(col("in_store"))
    new = pc.invert(in_store)
    was_current = pc.and_(in_store, pc.is_null(col("old_removed_at")))
    added, removing = pc.and_not(seen, was_current), pc.and_not(was_current, seen)
    at, task = pa.scalar(now, _TS), pa.scalar(task_id, pa.int64())
    out: dict[str, object] = {"rid": col("old_rid"), "moved": pc.fill_null(col("old_moved"), False),
                              "partner_bc_id": pa.array([bc_id] * joined.num_rows, pa.string()),
                              "member_key": col("member_key")}
    for name in _FIELDS:
        out[name] = pc.if_else(seen, col(f"f_{name}"), col(f"old_{name}"))
    out["first_seen"] = pc.if_else(new, at, col("old_first_seen"))
    out["last_seen"] = pc.if_else(seen, at, col("old_last_seen"))
    out["removed_at"] = pc.if_else(seen, pa.scalar(None, _TS), pc.coalesce(col("old_removed_at"), at))
    out["first_task_id"] = pc.if_else(new, task, col("old_first_task_id"))
    out["added_task_id"] = pc.if_else(added, task, col("old_added_task_id"))
    out["last_task_id"] = pc.if_else(seen, task, col("old_last_task_id"))
    at_reach = pc.index_in(col("member_key"), value_set=reach.column("member_key"))
    out["asset_count"] = pc.fill_null(pc.take(reach.column("count"), at_reach), 0).cast(pa.int32())
    out["assets"] = pc.fill_null(pc.take(reach.column("text"), at_reach), "")
    out["asset_admin"] = pc.fill_null(pc.take(reach.column("admin"), at_reach), False)
    kept = pc.and_not(seen, added)
    out.update({"added": added, "removing": removing, "old_user_role": col("old_user_role"),
                "old_finance_role": col("old_finance_role"), "old_relation_status": col("old_relation_status"),
                "role_changed": pc.and_(kept, _distinct(col("old_user_role"), out["user_role"])),
                "finance_role_changed": pc.and_(kept, _distinct(col("old_finance_role"), out["finance_role"])),
                "status_changed": pc.and_(kept, _distinct(col("old_relation_status"), out["relation_status"]))})
    dirty = pc.or_(pc.or_(new, out["moved"]), pc.or_(added, removing))
    for name in (*_FIELDS, *_REACH):
        dirty = pc.or_(dirty, _distinct(col(f"old_{name}"), out[name]))
    out["dirty"] = dirty
    return pa.table(out)


def _record_sync(cur: duckdb.DuckDBPyConnection, bc_id: str, *, task_id: int, now: datetime, members: int,
                 counts: Counts) -> None:
    """The `member_syncs` row (baseline = the partner's first) and the partner's sync state."""
    cur.execute(
        """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
           SELECT $task, $bc, $now, NOT EXISTS (SELECT 1 FROM member_syncs WHERE partner_bc_id = $bc),
                  $members, $added, $changed, $removed
           ON CONFLICT (task_id, partner_bc_id) DO UPDATE SET synced_at = excluded.synced_at,
               members = excluded.members, added = excluded.added, changed = excluded.changed,
               removed = excluded.removed""",
        {"task": task_id, "bc": bc_id, "now": now, "members": members, "added": counts.added,
         "changed": counts.updated, "removed": counts.removed},
    )
    cur.execute(
        """UPDATE partners SET last_sync_at = ?, last_error = NULL,
               connection = CASE WHEN connection = 'sync_failed' THEN 'connected' ELSE connection END
           WHERE bc_id = ?""",
        [now, bc_id],
    )


def _write_members(cur: duckdb.DuckDBPyConnection, bc_id: str, diff: pa.Table, rekeys: dict[str, str],
                   params: dict[str, object]) -> None:
    """Make the partner's stored rows equal the diff's rows, writing only what changed.

    Everyone current gets `last_seen` in one statement; then the rows that differ otherwise (new, returned,
    removed, changed fields or reach) are updated in place or inserted. A re-keyed row (and the removed row
    it replaces under its new key) is deleted and inserted under its new key.
    """
    moved = [*rekeys, *rekeys.values()]
    if moved:
        cur.execute("DELETE FROM members WHERE partner_bc_id = ? AND list_contains(?, member_key)", [bc_id, moved])
    cur.execute("UPDATE members SET last_seen = $now, last_task_id = $task "
                "WHERE partner_bc_id = $bc AND removed_at IS NULL", {**params, "bc": bc_id})
    rows = diff.filter(diff.column("dirty"))
    in_place = pc.fill_null(pc.and_not(pc.is_valid(rows.column("rid")), rows.column("moved")), False)
    _update_by_rowid(cur, rows.filter(in_place))
    bulk_insert(cur, "members", rows.filter(pc.invert(in_place)).select(_ROW_COLUMNS))


def _write_assets(cur: duckdb.DuckDBPyConnection, bc_id: str, assets: pa.Table, now: datetime) -> None:
    """Make the partner's `member_assets` equal `assets`, writing only what changed.

    Everything kept gets `synced_at` from one UPDATE; then the gone rows are deleted, the changed updated (both
    by the rowid just read) and the new inserted.
    """
    keys = ["member_key", "asset_id", "asset_type"]
    stored = cur.sql("SELECT rowid AS rid, member_key, asset_id, asset_type, asset_name, asset_role "
                     "FROM member_assets WHERE partner_bc_id = $bc", params={"bc": bc_id}).to_arrow_table()
    joined = assets.join(stored.rename_columns(["rid", *keys, "old_name", "old_role"]), keys=keys,
                         join_type="full outer")
    rid, kept = joined.column("rid"), pc.is_valid(joined.column("partner_bc_id"))
    gone = pc.drop_null(pc.filter(rid, pc.invert(kept)))
    if len(gone):
        cur.execute("DELETE FROM member_assets WHERE list_contains(?, rowid)", [gone.to_pylist()])
    cur.execute("UPDATE member_assets SET synced_at = ? WHERE partner_bc_id = ?", [now, bc_id])
    changed = pc.and_(pc.is_valid(rid), pc.or_(_distinct(joined.column("old_name"), joined.column("asset_name")),
                                               _distinct(joined.column("old_role"), joined.column("asset_role"))))
    updates = joined.filter(pc.and_(kept, changed)).select(["rid", "asset_name", "asset_role"])
    if updates.num_rows:
        cur.register("_pw_asset_update", updates)
        try:
            cur.execute("""UPDATE member_assets SET asset_name = f.asset_name, asset_role = f.asset_role
                           FROM _pw_asset_update f WHERE member_assets.rowid = f.rid""")
        finally:
            cur.unregister("_pw_asset_update")
    bulk_insert(cur, "member_assets", joined.filter(pc.and_(kept, pc.is_null(rid))).select(ASSET_SCHEMA.names))


def _update_by_rowid(cur: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """UPDATE the stored rows the diff read (`rid`, their rowid in this transaction) to `rows`.

    In place rather than delete + insert: DuckDB then rewrites only the changed column segments, and the
    primary-key index is untouched (a delete + insert of 4,000 rows cost ~0.4 s at COMMIT on 200,000); by
    rowid rather than by key: half the cost of the key join.
    """
    if rows.num_rows == 0:
        return
    values = ", ".join(f"{c} = f.{c}" for c in _ROW_COLUMNS if c not in ("partner_bc_id", "member_key"))
    cur.register("_pw_update", rows.select(["rid", *_ROW_COLUMNS]))
    try:
        cur.execute(f"UPDATE members SET {values} FROM _pw_update f WHERE members.rowid = f.rid")
    finally:
        cur.unregister("_pw_update")


_STORED_COLUMNS = """m.user_id, m.user_name, m.user_email, m.user_role, m.finance_role, m.relation_status,
           m.last_seen, m.removed_at, m.added_task_id, m.last_task_id, m.asset_count, m.assets, m.asset_admin"""

# The partner's stored members, as they are (no re-keys this sync).
_STORED_CTE = f"""
WITH stored AS (
    SELECT m.rowid AS rid, m.member_key, {_STORED_COLUMNS}, m.first_seen, m.first_task_id, false AS moved
    FROM members m WHERE m.partner_bc_id = $bc
)"""

# The stored members with the invitee re-keys applied (`_move` in SQL): a re-keyed row takes its new key
# and the earlier first_seen of a removed row already under that key, which it replaces.
_REKEYED_CTE = f"""
WITH stored AS (
    SELECT m.rowid AS rid, coalesce(r.new_key, m.member_key) AS member_key, {_STORED_COLUMNS},
           CASE WHEN h.first_seen < m.first_seen THEN h.first_seen ELSE m.first_seen END AS first_seen,
           CASE WHEN h.first_seen < m.first_seen THEN h.first_task_id ELSE m.first_task_id END AS first_task_id,
           r.new_key IS NOT NULL AS moved
    FROM members m
    LEFT JOIN _pw_rekeys r ON r.old_key = m.member_key
    LEFT JOIN members h ON h.partner_bc_id = m.partner_bc_id AND h.member_key = r.new_key
    WHERE m.partner_bc_id = $bc AND m.member_key NOT IN (SELECT new_key FROM _pw_rekeys)
)"""

_FIELDS = ("user_id", "user_name", "user_email", "user_role", "finance_role", "relation_status")
_REACH = ("asset_count", "assets", "asset_admin")

_ROW_COLUMNS = [*MEMBER_SCHEMA.names, *_REACH]

# (change, mask column, old value column, new value column, order within a member), as `make_plan` adds them.
_CHANGE_KINDS = ((REMOVED, "removing", "old_user_role", None, 0), (ADDED, "added", None, "user_role", 0),
                 (ROLE_CHANGED, "role_changed", "old_user_role", "user_role", 1),
                 (FINANCE_ROLE_CHANGED, "finance_role_changed", "old_finance_role", "finance_role", 2),
                 (STATUS_CHANGED, "status_changed", "old_relation_status", "relation_status", 3))


def _change_rows(diff: pa.Table, *, task_id: int, bc_id: str, now: datetime) -> pa.Table:
    """The sync's `member_changes` rows in `make_plan`'s order (member key, then kind)."""
    parts = []
    for change, mask, old, new, order in _CHANGE_KINDS:
        hits = diff.filter(diff.column(mask))
        n = hits.num_rows
        parts.append(pa.table({
            "member_key": hits.column("member_key"), "change": pa.array([change] * n, pa.string()),
            "old_value": hits.column(old) if old else pa.nulls(n, pa.string()),
            "new_value": hits.column(new) if new else pa.nulls(n, pa.string()),
            "order": pa.array([order] * n, pa.int8()),
        }))
    rows = pa.concat_tables(parts).sort_by([("member_key", "ascending"), ("order", "ascending")])
    n = rows.num_rows
    return pa.table({
        "task_id": pa.array([task_id] * n, pa.int64()), "partner_bc_id": pa.array([bc_id] * n, pa.string()),
        "member_key": rows.column("member_key"), "change": rows.column("change"),
        "old_value": rows.column("old_value"), "new_value": rows.column("new_value"),
        "changed_at": pa.array([now] * n, _TS),
    }, schema=CHANGE_SCHEMA)


def _fetched_table(snapshot: Snapshot) -> pa.Table:
    members = snapshot.members
    columns = {"member_key": list(members)}
    columns.update({name: [row[name] for row in members.values()] for name in _FIELDS})
    return pa.table(columns, schema=pa.schema([(name, pa.string()) for name in columns]))


def _rekey_table(rekeys: dict[str, str]) -> pa.Table:
    return pa.table({"old_key": list(rekeys), "new_key": list(rekeys.values())},
                    schema=pa.schema([("old_key", pa.string()), ("new_key", pa.string())]))


def _stored_keys(stored: pa.Table) -> dict[str, dict]:
    """What `_find_rekeys` reads of the stored members: key → removed_at (None when current), e-mail."""
    removed = pc.is_valid(stored.column("removed_at")).to_pylist()
    return {key: {"removed_at": True if gone else None, "user_email": email} for key, gone, email
            in zip(stored.column("member_key").to_pylist(), removed, stored.column("user_email").to_pylist(),
                   strict=True)}


def _counts(changes: pa.Table) -> Counts:
    kinds = changes.column("change").to_pylist()
    keys = changes.column("member_key").to_pylist()
    updated = {key for key, kind in zip(keys, kinds, strict=True) if kind not in (ADDED, REMOVED)}
    return Counts(kinds.count(ADDED), len(updated), kinds.count(REMOVED))


def _stored_members(cur: duckdb.DuckDBPyConnection, bc_id: str) -> dict[str, dict]:
    cursor = cur.execute(f"SELECT {', '.join(MEMBER_SCHEMA.names)} FROM members WHERE partner_bc_id = ?", [bc_id])
    names = [d[0] for d in cursor.description]
    return {row[1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _asset_table(snapshot: Snapshot, now: datetime) -> pa.Table:
    unique = {(r["member_key"], r["asset_id"], r["asset_type"]): r for r in snapshot.asset_roles}
    rows = [dict(r, partner_bc_id=snapshot.partner_bc_id, synced_at=now) for r in unique.values()]
    return pa.Table.from_pylist(rows, schema=ASSET_SCHEMA)


def _rekey_history(cur: duckdb.DuckDBPyConnection, bc_id: str, rekeys: dict[str, str]) -> None:
    """Past change rows follow an invitee whose key moved from e-mail to user_id (or back)."""
    if not rekeys:
        return
    frame = pa.table({"old_key": list(rekeys), "new_key": list(rekeys.values())})
    cur.register("member_rekeys", frame)
    try:
        cur.execute(
            """UPDATE member_changes SET member_key = r.new_key FROM member_rekeys r
               WHERE member_changes.partner_bc_id = ? AND member_changes.member_key = r.old_key""",
            [bc_id],
        )
    finally:
        cur.unregister("member_rekeys")


def check_safeguard(plan: Plan, *, partner_name: str, threshold: float) -> None:
    """Raise SyncHalted when the plan removes more than `threshold` percent of the current members."""
    if plan.current_before == 0 or plan.counts.removed == 0:
        return
    share = 100.0 * plan.counts.removed / plan.current_before
    if share > threshold:
        raise SyncHalted(
            f"Halted by the mass-removal safeguard: this sync would remove {plan.counts.removed} of "
            f"{plan.current_before} guest users of {partner_name} ({share:.0f}%, more than {threshold:g}%). "
            "Nothing was changed. If the removals are expected, raise the safeguard in Settings → Sync policy "
            "and run Check for updates again."
        )


def make_plan(stored: dict[str, dict], fetched: dict[str, dict[str, str | None]], *, partner_bc_id: str,
              task_id: int, now: datetime) -> Plan:
    """The member rows and change rows that make the stored members match `fetched` (pure function)."""
    stored = {key: dict(row) for key, row in stored.items()}
    plan = Plan(rekeys=_find_rekeys(stored, fetched))
    for old_key, new_key in plan.rekeys.items():
        _move(stored, old_key, new_key)
    plan.current_before = sum(1 for row in stored.values() if row["removed_at"] is None)
    added = updated = removed = 0
    for key in sorted(stored.keys() | fetched.keys()):
        old, new = stored.get(key), fetched.get(key)
        change = _Change(plan.changes, task_id, partner_bc_id, key, now)
        if new is None:
            row = dict(old)  # type: ignore[arg-type]
            if row["removed_at"] is None:
                row["removed_at"] = now
                change.add(REMOVED, old=row["user_role"])
                removed += 1
        elif old is None or old["removed_at"] is not None:
            row = _seen(old or {"first_seen": now, "first_task_id": task_id}, new, partner_bc_id, key, now, task_id)
            row["added_task_id"] = task_id
            change.add(ADDED, new=new["user_role"])
            added += 1
        else:
            row = _seen(old, new, partner_bc_id, key, now, task_id)
            diffs = [(kind, old[name], new[name]) for name, kind in _TRACKED if old[name] != new[name]]
            for kind, before, after in diffs:
                change.add(kind, old=before, new=after)
            updated += bool(diffs)
        plan.rows.append(row)
    plan.counts = Counts(added, updated, removed)
    return plan


def _seen(base: dict, new: dict, partner_bc_id: str, key: str, now: datetime, task_id: int) -> dict:
    return {**{name: base.get(name) for name in MEMBER_SCHEMA.names}, **new, "partner_bc_id": partner_bc_id,
            "member_key": key, "last_seen": now, "removed_at": None, "last_task_id": task_id}


@dataclass
class _Change:
    sink: list[dict]
    task_id: int
    partner_bc_id: str
    member_key: str
    at: datetime

    def add(self, change: str, *, old: str | None = None, new: str | None = None) -> None:
        self.sink.append({"task_id": self.task_id, "partner_bc_id": self.partner_bc_id,
                          "member_key": self.member_key, "change": change, "old_value": old,
                          "new_value": new, "changed_at": self.at})


def _find_rekeys(stored: dict[str, dict], fetched: dict[str, dict]) -> dict[str, str]:
    """Current stored members whose key vanished while a new key appeared with the same e-mail."""
    vanished = {str(row["user_email"] or "").lower(): key for key, row in stored.items()
                if row["removed_at"] is None and key not in fetched and row["user_email"]}
    rekeys: dict[str, str] = {}
    for key, member in fetched.items():
        known = stored.get(key)
        if known is not None and known["removed_at"] is None:
            continue
        old_key = vanished.pop(str(member["user_email"] or "").lower(), None)
        if old_key is not None:
            rekeys[old_key] = key
    return rekeys


def _move(stored: dict[str, dict], old_key: str, new_key: str) -> None:
    row = stored.pop(old_key)
    history = stored.pop(new_key, None)  # an earlier, removed membership under the new key
    if history is not None and history["first_seen"] < row["first_seen"]:
        row["first_seen"], row["first_task_id"] = history["first_seen"], history["first_task_id"]
    row["member_key"] = new_key
    stored[new_key] = row

