"""Member sync of one onboarded partner, with that partner's token (part of Check for updates).

1. Fetch (async, before any write): every page of `bc/member/get/` once per `relation_status`, and for
   each of your assets shared with the partner (share type SHARING) every page of
   `bc/asset/member/get/` on the partner's BC, which says which members reach it and with what role.
2. Apply (in the caller's one transaction per partner): diff the fetched members against the stored
   ones, keyed by (partner BC id, user_id or lower(e-mail)); an invitee who joins (e-mail key → user_id
   key) keeps its row and history. New members get `first_seen`, everyone seen gets `last_seen`, those
   gone get `removed_at`; every difference becomes a `member_changes` row of the task. The diff runs in
   DuckDB (the snapshot registered as Arrow tables, joined with the stored rows); `make_plan` is the same
   diff in Python, the reference the tests hold it to. Rows are written in place (UPDATE ... FROM the new
   frame, INSERT of new keys; no delete + re-insert) with each member's reach (asset count, text, admin flag).

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
        await asyncio.to_thread(job.progress, done, total)  # off the loop: the write lock may be taken
        return result

    listings = await asyncio.gather(
        *(call(lambda s=s: client.get_members(token, partner.bc_id, {"relation_status": s}))
          for s in RELATION_STATUSES),
        *(call(lambda a=a: client.get_asset_members(token, partner.bc_id, a["asset_type"], a["asset_id"]))
          for a in sharing),
    )
    await asyncio.to_thread(job.progress, total, total, force=True)
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

    The diff runs in DuckDB (`_ROWS_SQL`, `_CHANGES_SQL` over the snapshot registered as Arrow tables):
    the same result as `make_plan`, without turning 4,000 stored rows into Python objects.
    """
    bc_id = snapshot.partner_bc_id
    stored = _stored_keys(cur, bc_id)
    rekeys = _find_rekeys(stored, snapshot.members)
    params = {"bc": bc_id, "now": now, "task": task_id}
    assets = _asset_table(snapshot, now)
    frames = {"_pw_fetched": _fetched_table(snapshot), "_pw_rekeys": _rekey_table(rekeys), "_pw_assets": assets}
    for name, frame in frames.items():
        cur.register(name, frame)
    try:
        changes = cur.sql(_STORED_CTE + _CHANGES_SQL, params=params).to_arrow_table()
        current = sum(row["removed_at"] is None for row in stored.values())
        plan = Plan(rekeys=rekeys, current_before=current, counts=_counts(changes))
        check_safeguard(plan, partner_name=partner_name, threshold=threshold)
        rows = cur.sql(_STORED_CTE + _ROWS_SQL, params=params).to_arrow_table()
    finally:
        for name in frames:
            cur.unregister(name)
    baseline = not cur.execute("SELECT 1 FROM member_syncs WHERE partner_bc_id = ?", [bc_id]).fetchall()
    _rekey_history(cur, bc_id, rekeys)
    _write_members(cur, bc_id, rows, rekeys, set(stored))
    _write_assets(cur, bc_id, assets)
    bulk_insert(cur, "member_changes", changes)
    cur.execute(
        """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (task_id, partner_bc_id) DO UPDATE SET synced_at = excluded.synced_at,
               members = excluded.members, added = excluded.added, changed = excluded.changed,
               removed = excluded.removed""",
        [task_id, bc_id, now, baseline, len(snapshot.members), plan.counts.added, plan.counts.updated,
         plan.counts.removed],
    )
    cur.execute("UPDATE partners SET connection = 'connected' WHERE bc_id = ? AND connection = 'sync_failed'",
                [bc_id])
    partners.mark_synced(cur, bc_id, now)
    return plan.counts


def _write_members(cur: duckdb.DuckDBPyConnection, bc_id: str, rows: pa.Table, rekeys: dict[str, str],
                   stored: set[str]) -> None:
    """Make the partner's stored rows equal `rows`: update in place, insert the new keys.

    `rows` holds every stored key of the partner after the re-keys, so nothing else is deleted; a re-keyed
    row (and the removed row it replaces under its new key) is deleted and inserted under its new key.
    """
    moved = [*rekeys, *rekeys.values()]
    if moved:
        cur.execute("DELETE FROM members WHERE partner_bc_id = ? AND list_contains(?, member_key)", [bc_id, moved])
    _upsert(cur, "members", rows, bc_id, ("member_key",), known=stored.difference(moved))


def _write_assets(cur: duckdb.DuckDBPyConnection, bc_id: str, assets: pa.Table) -> None:
    """Make the partner's `member_assets` equal `assets`: delete the gone, update the kept, insert the new."""
    cur.register("_pw_assets_new", assets)
    try:
        cur.execute(
            """DELETE FROM member_assets WHERE partner_bc_id = ? AND NOT EXISTS (
                   SELECT 1 FROM _pw_assets_new a WHERE a.member_key = member_assets.member_key
                   AND a.asset_id = member_assets.asset_id AND a.asset_type = member_assets.asset_type)""",
            [bc_id],
        )
    finally:
        cur.unregister("_pw_assets_new")
    _upsert(cur, "member_assets", assets, bc_id, ("member_key", "asset_id", "asset_type"))


def _upsert(cur: duckdb.DuckDBPyConnection, table: str, frame: pa.Table, bc_id: str, keys: tuple[str, ...],
            known: set[str] | None = None) -> None:
    """UPDATE the partner's rows of `table` whose `keys` are in `frame` (non-key columns only), INSERT the rest.

    `known`: the single key column's stored values, when the caller has them (saves a query); else asked.

    In place rather than delete + insert: DuckDB then rewrites only the changed column segments, and the
    primary-key index is untouched (a delete + insert of 4,000 rows cost ~0.4 s at COMMIT on 200,000).
    """
    if frame.num_rows == 0:
        return
    match = " AND ".join(f"t.{k} = f.{k}" for k in keys)
    values = ", ".join(f"{c} = f.{c}" for c in frame.column_names if c not in (*keys, "partner_bc_id"))
    cur.register("_pw_upsert", frame)
    try:
        cur.execute(f"UPDATE {table} AS t SET {values} FROM _pw_upsert f WHERE t.partner_bc_id = ? AND {match}",
                    [bc_id])
        if known is not None:
            stored = pa.array(sorted(known), pa.string())
            new = frame.filter(pc.invert(pc.is_in(frame.column(keys[0]), value_set=stored)))
        else:
            new = cur.sql(f"""SELECT f.* FROM _pw_upsert f
                              WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.partner_bc_id = $bc AND {match})""",
                          params={"bc": bc_id}).to_arrow_table()
    finally:
        cur.unregister("_pw_upsert")
    bulk_insert(cur, table, new)


# The partner's stored members with the invitee re-keys applied (`_move` in SQL): a re-keyed row takes
# its new key and the earlier first_seen of a removed row already under that key, which it replaces.
_STORED_CTE = """
WITH stored AS (
    SELECT coalesce(r.new_key, m.member_key) AS member_key, m.user_id, m.user_name, m.user_email, m.user_role,
           m.finance_role, m.relation_status, m.last_seen, m.removed_at, m.added_task_id, m.last_task_id,
           CASE WHEN h.first_seen < m.first_seen THEN h.first_seen ELSE m.first_seen END AS first_seen,
           CASE WHEN h.first_seen < m.first_seen THEN h.first_task_id ELSE m.first_task_id END AS first_task_id
    FROM members m
    LEFT JOIN _pw_rekeys r ON r.old_key = m.member_key
    LEFT JOIN members h ON h.partner_bc_id = m.partner_bc_id AND h.member_key = r.new_key
    WHERE m.partner_bc_id = $bc AND m.member_key NOT IN (SELECT new_key FROM _pw_rekeys)
),
gone AS (SELECT s.* FROM stored s ANTI JOIN _pw_fetched f ON f.member_key = s.member_key),
seen AS (
    SELECT f.*, s.member_key IS NULL OR s.removed_at IS NOT NULL AS added, s.member_key IS NULL AS new,
           s.first_seen, s.first_task_id, s.added_task_id, s.user_role AS old_role,
           s.finance_role AS old_finance_role, s.relation_status AS old_status
    FROM _pw_fetched f LEFT JOIN stored s ON s.member_key = f.member_key
)"""

# The partner's member rows after the sync (what `make_plan` puts in `Plan.rows`), with their reach.
_ROWS_SQL = """,
reach AS (
    SELECT member_key, count(*) AS asset_count,
           string_agg(coalesce(asset_name, asset_id) || ' (' || asset_type || ': ' || coalesce(asset_role, '?')
                      || ')', '; ' ORDER BY asset_name, asset_id) AS assets,
           coalesce(bool_or(asset_role = 'ADMIN'), false) AS asset_admin
    FROM _pw_assets GROUP BY member_key),
next AS (
    SELECT member_key, user_id, user_name, user_email, user_role, finance_role, relation_status, first_seen,
           last_seen, coalesce(removed_at, $now::TIMESTAMPTZ) AS removed_at, first_task_id, added_task_id,
           last_task_id
    FROM gone
    UNION ALL
    SELECT member_key, user_id, user_name, user_email, user_role, finance_role, relation_status,
           CASE WHEN new THEN $now::TIMESTAMPTZ ELSE first_seen END, $now::TIMESTAMPTZ, NULL::TIMESTAMPTZ,
           CASE WHEN new THEN $task::BIGINT ELSE first_task_id END,
           CASE WHEN added THEN $task::BIGINT ELSE added_task_id END, $task::BIGINT
    FROM seen)
SELECT $bc::VARCHAR AS partner_bc_id, n.*, coalesce(r.asset_count, 0) AS asset_count,
       coalesce(r.assets, '') AS assets, coalesce(r.asset_admin, false) AS asset_admin
FROM next n LEFT JOIN reach r ON r.member_key = n.member_key
ORDER BY n.member_key"""

# The change rows of the sync, in `make_plan`'s order (member key, then added/removed, role, finance, status).
_CHANGES_SQL = """,
diff AS (
    SELECT member_key, 'removed' AS change, user_role AS old_value, NULL::VARCHAR AS new_value, 0 AS kind
    FROM gone WHERE removed_at IS NULL
    UNION ALL SELECT member_key, 'added', NULL, user_role, 0 FROM seen WHERE added
    UNION ALL SELECT member_key, 'role_changed', old_role, user_role, 1 FROM seen
              WHERE NOT added AND old_role IS DISTINCT FROM user_role
    UNION ALL SELECT member_key, 'finance_role_changed', old_finance_role, finance_role, 2 FROM seen
              WHERE NOT added AND old_finance_role IS DISTINCT FROM finance_role
    UNION ALL SELECT member_key, 'status_changed', old_status, relation_status, 3 FROM seen
              WHERE NOT added AND old_status IS DISTINCT FROM relation_status)
SELECT $task::BIGINT AS task_id, $bc::VARCHAR AS partner_bc_id, member_key, change, old_value, new_value,
       $now::TIMESTAMPTZ AS changed_at
FROM diff ORDER BY member_key, kind"""

_FETCHED_FIELDS = ("user_id", "user_name", "user_email", "user_role", "finance_role", "relation_status")


def _fetched_table(snapshot: Snapshot) -> pa.Table:
    members = snapshot.members
    columns = {"member_key": list(members)}
    columns.update({name: [row[name] for row in members.values()] for name in _FETCHED_FIELDS})
    return pa.table(columns, schema=pa.schema([(name, pa.string()) for name in columns]))


def _rekey_table(rekeys: dict[str, str]) -> pa.Table:
    return pa.table({"old_key": list(rekeys), "new_key": list(rekeys.values())},
                    schema=pa.schema([("old_key", pa.string()), ("new_key", pa.string())]))


def _stored_keys(cur: duckdb.DuckDBPyConnection, bc_id: str) -> dict[str, dict]:
    """What `_find_rekeys` reads of the stored members: key → removed_at (None when current), e-mail."""
    rows = cur.execute("SELECT member_key, removed_at IS NOT NULL, user_email FROM members WHERE partner_bc_id = ?",
                       [bc_id]).fetchall()
    return {key: {"removed_at": True if removed else None, "user_email": email} for key, removed, email in rows}


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

