"""Member sync of one onboarded partner, with that partner's token (part of Check for updates).

1. Fetch (async, before any write): every page of `bc/member/get/` once per `relation_status`, and for
   each of your assets shared with the partner (share type SHARING) every page of
   `bc/asset/member/get/` on the partner's BC, which says which members reach it and with what role.
2. Apply (all or nothing per partner; partners whose writes queue up share one transaction and one set of
   statements, see `GroupWriter`): diff the fetched members against the stored
   ones, keyed by (partner BC id, user_id or lower(e-mail)); an invitee who joins (e-mail key → user_id
   key) keeps its row and history. New members get `first_seen`, everyone seen gets `last_seen`, those
   gone get `removed_at`; every difference becomes a `member_changes` row of the task. The diff runs in
   Arrow (the snapshot as Arrow tables, joined with the stored rows read from DuckDB); the tests hold it to
   the same diff in plain Python (`tests/members/reference_plan.py`). Only rows that differ are written, in
   place (UPDATE ... FROM the changed rows, INSERT of new keys; no delete + re-insert), with each member's
   reach (asset count, text, admin flag); everyone still current gets `last_seen` from one UPDATE.

The mass-removal safeguard (`settings_kv` key `sync.mass_removal_threshold_pct`, default 20) raises
`SyncHalted` before anything of the partner is written when a sync would remove more than that share of its
current members, so nothing of it is applied. Any failure leaves the partner's stored data as it was and
records the partner's connection state: `reconnect_required` for a rejected token, `safeguard_halted` for the
safeguard (its message says how many would go and how to accept the removal), else `sync_failed`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.accounts import partners, tokens
from core.members import flags
from core.security import audit
from core.security.roles import Actor, require_admin
from core.services import Services
from core.store.database import Store, bulk_insert
from core.tasks.jobs import Counts, JobHandle
from core.tiktok.client import TikTokClient
from core.tiktok.errors import TikTokError, TokenRejectedError

log = logging.getLogger(__name__)
# Partners' snapshots are turned into tables and joined with their stored rows on this many threads: pyarrow's
# kernels release the GIL (1.8 -> 1.5 s for 50 partners of 4,000 on 2 cores).
_PREPARE_THREADS = 2

THRESHOLD_KEY = "sync.mass_removal_threshold_pct"
DEFAULT_THRESHOLD_PCT = 20.0
RELATION_STATUSES = ("BOUND", "PENDING", "REJECTED", "UNBOUND")
CALL_CONCURRENCY = 4  # per partner; the app-wide token bucket still bounds the total rate
SYNCABLE_CONNECTIONS = ("connected", "sync_failed", "safeguard_halted")

ADDED, REMOVED = "added", "removed"
ROLE_CHANGED, FINANCE_ROLE_CHANGED, STATUS_CHANGED = "role_changed", "finance_role_changed", "status_changed"


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
    """What the mass-removal safeguard judges a partner's sync by."""

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
    """Fetch, then apply all or nothing (with `also_write`, e.g. the partner's assets); returns counts.

    Raises TikTokError or MemberSyncError after recording the partner's connection state.
    """
    try:
        snapshot = await fetch(services, client, partner, shared_assets, job)
        # In a worker thread: the other partners' requests keep flowing while this one is written.
        return await asyncio.to_thread(write_snapshot, services.store, snapshot, partner.name, task_id,
                                       also_write)
    except TokenRejectedError as exc:
        partners.set_connection(
            services.store,
            partner.bc_id,
            "reconnect_required",
            error=f"TikTok rejected the monitor account's token ({exc.code}): reconnect.",
        )
        raise
    except SyncHalted as exc:
        partners.set_connection(services.store, partner.bc_id, "safeguard_halted", error=str(exc))
        raise
    except (TikTokError, MemberSyncError) as exc:
        partners.set_connection(services.store, partner.bc_id, "sync_failed", error=str(exc))
        raise


def write_snapshot(store: Store, snapshot: Snapshot, partner_name: str, task_id: int,
                   also_write: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> Counts:
    """Write a partner's snapshot, all or nothing: `also_write` (in the same transaction), then the members
    diff; raises SyncHalted. Partners written at the same time share a transaction (see `GroupWriter`)."""
    return GroupWriter.of(store).write(_Pending(snapshot, partner_name, task_id, also_write))


@dataclass
class _Pending:
    snapshot: Snapshot
    partner_name: str
    task_id: int
    also_write: Callable[[duckdb.DuckDBPyConnection], None] | None
    done: threading.Event = field(default_factory=threading.Event)
    result: Counts | None = None
    error: BaseException | None = None


class GroupWriter:
    """Group commit of partners' member writes, one per store.

    A partner's write waits for the store's write lock; the thread that gets it writes every partner queued by
    then in one transaction with one set of statements (`apply_many`), so when fetches outrun the writes the
    writes batch up instead of queueing one transaction each. Each partner stays all-or-nothing: one halted by
    the safeguard is left out before anything is written, and if the shared transaction fails, each partner
    is retried in a transaction of its own so one partner's failure is not another's.
    """

    _by_store: ClassVar[weakref.WeakKeyDictionary[Store, GroupWriter]] = weakref.WeakKeyDictionary()
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._leader = threading.Lock()
        self.batch_sizes: list[int] = []  # for benchmarks and tests

    @classmethod
    def of(cls, store: Store) -> GroupWriter:
        with cls._registry_lock:
            writer = cls._by_store.get(store)
            if writer is None:
                writer = cls._by_store[store] = cls(store)
            return writer

    def write(self, item: _Pending) -> Counts:
        with self._queue_lock:
            self._queue.append(item)
        with self._leader:
            if not item.done.is_set():
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._write_batch(batch)
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _write_batch(self, batch: list[_Pending]) -> None:
        self.batch_sizes.append(len(batch))
        try:
            self._transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                log.warning("A grouped member write failed (%s); writing its %d partners one by one",
                            type(exc).__name__, len(batch))
                for item in batch:
                    self._write_batch([item])
        finally:
            for item in batch:
                item.done.set()

    def _transaction(self, batch: list[_Pending]) -> None:
        for item in batch:  # a retry of a failed group starts afresh
            item.result = item.error = None
        now = datetime.now(UTC)
        threshold = threshold_pct(self.store)
        by_task: dict[int, list[_Pending]] = {}
        for item in batch:
            by_task.setdefault(item.task_id, []).append(item)
        with self.store.write() as cur:
            for task_id, items in by_task.items():
                by_bc = {item.snapshot.partner_bc_id: item for item in items}

                def before_write(kept: list[str], by_bc: dict[str, _Pending] = by_bc) -> None:
                    for bc_id in kept:
                        if by_bc[bc_id].also_write is not None:
                            by_bc[bc_id].also_write(cur)

                results = apply_many(cur, [(item.snapshot, item.partner_name) for item in items], task_id=task_id,
                                     now=now, threshold=threshold, before_write=before_write)
                for item, result in zip(items, results, strict=True):
                    if isinstance(result, SyncHalted):
                        item.error = result
                    else:
                        item.result = result


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
    """Write one partner's snapshot inside the caller's transaction (see `apply_many`); raises SyncHalted."""
    (result,) = apply_many(cur, [(snapshot, partner_name)], task_id=task_id, now=now, threshold=threshold)
    if isinstance(result, SyncHalted):
        raise result
    return result


def apply_many(cur: duckdb.DuckDBPyConnection, items: Sequence[tuple[Snapshot, str]], *, task_id: int,
               now: datetime, threshold: float,
               before_write: Callable[[list[str]], None] | None = None) -> list[Counts | SyncHalted]:
    """Write partners' snapshots (with their names) inside the caller's transaction, with one set of statements
    for all of them; returns each partner's counts, or the SyncHalted that kept it from being written.

    `_diff` joins the snapshots with the stored rows in Arrow and gives every member row after the sync beside
    its stored values; the change rows are projections of it, and only the rows that differ are written (plus
    one statement for everyone's `last_seen`): the same result as the tests' plain-Python reference, without
    Python objects per row.
    `before_write` gets the partners that pass the safeguard, before anything is written.
    """
    snapshots = [snapshot for snapshot, _ in items]
    bcs = [snapshot.partner_bc_id for snapshot in snapshots]
    if len(set(bcs)) != len(bcs):
        raise ValueError("apply_many takes each partner once")
    stored = _by_partner(_read_stored(cur, bcs, _NO_REKEYS), bcs)
    current = {bc: stored[bc].column("removed_at").null_count for bc in bcs}

    def prepared(snapshot: Snapshot) -> tuple[pa.Table, pa.Table, pa.Table]:
        fetched, assets = _fetched_table(snapshot), _asset_table(snapshot, now)
        return fetched, assets, _joined(stored[snapshot.partner_bc_id], fetched, assets)

    with ThreadPoolExecutor(max_workers=_PREPARE_THREADS) as pool:
        tables = dict(zip(bcs, pool.map(prepared, snapshots), strict=True))
    fetched, assets, joined = ({bc: parts[i] for bc, parts in tables.items()} for i in range(3))
    rekeys = pa.concat_tables([_rekeys(joined[bc]) for bc in bcs])
    if rekeys.num_rows:  # rare: join those partners again with the re-keys applied to their stored rows
        moved = sorted(set(rekeys.column("partner_bc_id").to_pylist()))
        restored = _by_partner(_read_stored(cur, moved, rekeys), moved)
        joined.update({bc: _joined(restored[bc], fetched[bc], assets[bc]) for bc in moved})
    diff = _next_rows(pa.concat_tables(list(joined.values())), now=now, task_id=task_id)
    assets = pa.concat_tables(list(assets.values()))
    changes = _change_rows(diff, task_id=task_id, now=now)
    counts = _counts_by_partner(changes)
    results: list[Counts | SyncHalted] = []
    for bc_id, name in zip(bcs, (name for _, name in items), strict=True):
        plan = Plan(current_before=current.get(bc_id, 0), counts=counts.get(bc_id, Counts()))
        try:
            check_safeguard(plan, partner_name=name, threshold=threshold)
            results.append(plan.counts)
        except SyncHalted as halted:
            results.append(halted)
    kept = [bc_id for bc_id, result in zip(bcs, results, strict=True) if not isinstance(result, SyncHalted)]
    if not kept:
        return results
    if before_write is not None:
        before_write(kept)
    if len(kept) < len(bcs):
        diff, changes, assets, rekeys = (_only(table, kept) for table in (diff, changes, assets, rekeys))
    _rekey_history(cur, rekeys)
    _write_members(cur, kept, diff, rekeys, now=now, task_id=task_id)
    _write_assets(cur, kept, assets, now)
    bulk_insert(cur, "member_changes", changes)
    members = {snapshot.partner_bc_id: len(snapshot.members) for snapshot in snapshots}
    _record_syncs(cur, kept, task_id=task_id, now=now, members=members, counts=counts)
    return results


def _only(table: pa.Table, bcs: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("partner_bc_id"), value_set=pa.array(bcs, pa.string())))


def _fetched_table(snapshot: Snapshot) -> pa.Table:
    """The snapshot's members as a table, in fetched order."""
    members = snapshot.members
    fields = pa.Table.from_struct_array(pa.array(list(members.values()), type=_FIELDS_STRUCT))
    keys = pa.table({"partner_bc_id": pa.array([snapshot.partner_bc_id] * len(members), pa.string()),
                     "member_key": pa.array(list(members), pa.string())})
    return pa.Table.from_arrays([*keys.columns, *fields.columns], names=[*keys.column_names, *_FIELDS])


def _read_stored(cur: duckdb.DuckDBPyConnection, bcs: list[str], rekeys: pa.Table) -> pa.Table:
    """The partners' stored members (re-keys applied when there are any), with their rowid in `rid`."""
    sql = (_REKEYED_CTE if rekeys.num_rows else _STORED_CTE) + " SELECT * FROM stored"
    cur.register("_pw_rekeys", rekeys)
    try:
        stored = cur.sql(sql, params={"bcs": bcs}).to_arrow_table()
    finally:
        cur.unregister("_pw_rekeys")
    for name in ("first_seen", "last_seen", "removed_at"):  # the session's time zone name varies
        stored = stored.set_column(stored.schema.get_field_index(name), name, stored.column(name).cast(_TS))
    return stored


def _by_partner(table: pa.Table, bcs: list[str]) -> dict[str, pa.Table]:
    """`table`'s rows per partner BC id (an empty table for a partner without rows); zero-copy slices when
    each partner's rows are already together, as DuckDB returns them when nothing moved them."""
    if table.num_rows == 0:
        return dict.fromkeys(bcs, table)
    encoded = pc.dictionary_encode(table.column("partner_bc_id")).combine_chunks()
    codes = encoded.indices.to_numpy()
    if np.count_nonzero(np.diff(codes)) + 1 != len(encoded.dictionary):
        order = np.argsort(codes, kind="stable")
        table, codes = table.take(order), codes[order]
    starts = np.flatnonzero(np.r_[True, np.diff(codes) != 0])
    ends = np.r_[starts[1:], len(codes)]
    names = encoded.dictionary.to_pylist()
    runs = {names[codes[start]]: table.slice(start, end - start) for start, end in zip(starts, ends, strict=True)}
    return {bc: runs.get(bc, table.slice(0, 0)) for bc in bcs}


def _rekeys(joined: pa.Table) -> pa.Table:
    """`_find_rekeys` for one partner (from `_joined`), given only what it can match: current stored members
    whose key vanished (with an e-mail), and fetched members that are not current, in fetched order."""
    was_current = pc.and_(joined.column("in_store"), pc.is_null(joined.column("old_removed_at")))
    vanished = joined.filter(pc.and_(pc.and_not(was_current, joined.column("seen")),
                                     pc.is_valid(joined.column("old_user_email"))))
    arrivals = joined.filter(pc.and_not(joined.column("seen"), was_current))
    if not vanished.num_rows or not arrivals.num_rows:
        return _NO_REKEYS
    stored = {key: {"removed_at": None, "user_email": email} for key, email in
              zip(vanished.column("member_key").to_pylist(), vanished.column("old_user_email").to_pylist(),
                  strict=True)}
    fetched = {key: {"user_email": email} for key, email in
               zip(arrivals.column("member_key").to_pylist(), arrivals.column("f_user_email").to_pylist(),
                   strict=True)}
    rekeys = _find_rekeys(stored, fetched)
    bc_id = joined.column("partner_bc_id")[0].as_py()
    return pa.table({"partner_bc_id": [bc_id] * len(rekeys), "old_key": list(rekeys),
                     "new_key": list(rekeys.values())}, schema=_REKEY_SCHEMA)


def _joined(stored: pa.Table, fetched: pa.Table, assets: pa.Table) -> pa.Table:
    """One partner's fetched rows with their stored values (hash lookup of the key) and reach, then the stored
    rows that were not fetched: what `_next_rows` needs. Per partner, because lookups in 4,000 keys stay in the
    CPU cache, unlike lookups in 200,000."""
    keys = ["partner_bc_id", "member_key"]
    olds = [c for c in stored.column_names if c not in keys]
    at_stored = pc.index_in(fetched.column("member_key"), value_set=stored.column("member_key"))
    gone = stored.filter(pc.invert(pc.is_in(stored.column("member_key"), value_set=fetched.column("member_key"))))
    old_values = stored.select(olds).take(at_stored)
    seen = pa.table({
        **{c: fetched.column(c) for c in keys}, "seen": pa.array([True] * fetched.num_rows, pa.bool_()),
        "in_store": pc.is_valid(at_stored), **{f"f_{c}": fetched.column(c) for c in _FIELDS},
        **{f"old_{c}": old_values.column(c) for c in olds}})
    not_seen = pa.table({
        **{c: gone.column(c) for c in keys}, "seen": pa.array([False] * gone.num_rows, pa.bool_()),
        "in_store": pa.array([True] * gone.num_rows, pa.bool_()),
        **{f"f_{c}": pa.nulls(gone.num_rows, pa.string()) for c in _FIELDS},
        **{f"old_{c}": gone.column(c) for c in olds}}, schema=seen.schema)
    joined = pa.concat_tables([seen, not_seen])
    reach = _reach(assets)
    at_reach = pc.index_in(joined.column("member_key"), value_set=reach.column("member_key"))
    return joined.append_column("reach_count", pc.take(reach.column("count"), at_reach)).append_column(
        "reach_text", pc.take(reach.column("text"), at_reach)).append_column(
        "reach_admin", pc.take(reach.column("admin"), at_reach))


def _reach(assets: pa.Table) -> pa.Table:
    """Per member of one partner: the number of assets reached, the display text ("Acme Ads (ADVERTISER:
    ADMIN); ..." ordered by asset name, then id) and whether any role is ADMIN."""
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


def _next_rows(joined: pa.Table, *, now: datetime, task_id: int) -> pa.Table:
    """Every member row after the sync (with the reach), the stored values the change rows need (`old_*`),
    what happened to each member, and `dirty`: whether its row must be written beyond the `last_seen` and
    `last_task_id` that every current member gets."""
    col = joined.column
    seen, in_store = col("seen"), col("in_store")
    new = pc.invert(in_store)
    was_current = pc.and_(in_store, pc.is_null(col("old_removed_at")))
    added, removing = pc.and_not(seen, was_current), pc.and_not(was_current, seen)
    at, task = pa.scalar(now, _TS), pa.scalar(task_id, pa.int64())
    out: dict[str, object] = {"rid": col("old_rid"), "moved": pc.fill_null(col("old_moved"), False),
                              "partner_bc_id": col("partner_bc_id"), "member_key": col("member_key")}
    for name in _FIELDS:
        out[name] = pc.if_else(seen, col(f"f_{name}"), col(f"old_{name}"))
    out["first_seen"] = pc.if_else(new, at, col("old_first_seen"))
    out["last_seen"] = pc.if_else(seen, at, col("old_last_seen"))
    out["removed_at"] = pc.if_else(seen, pa.scalar(None, _TS), pc.coalesce(col("old_removed_at"), at))
    out["first_task_id"] = pc.if_else(new, task, col("old_first_task_id"))
    out["added_task_id"] = pc.if_else(added, task, col("old_added_task_id"))
    out["last_task_id"] = pc.if_else(seen, task, col("old_last_task_id"))
    out["asset_count"] = pc.fill_null(col("reach_count"), 0).cast(pa.int32())
    out["assets"] = pc.fill_null(col("reach_text"), "")
    out["asset_admin"] = pc.fill_null(col("reach_admin"), False)
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
    out["identity_changed"] = pc.fill_null(pc.or_(pc.or_(
        _distinct(col("old_user_id"), out["user_id"]), _distinct(col("old_user_name"), out["user_name"])),
        _distinct(col("old_user_email"), out["user_email"])), False)
    return pa.table(out)


def _counts_by_partner(changes: pa.Table) -> dict[str, Counts]:
    """Added and removed members, and members with any other change, per partner."""
    tally: dict[str, dict[str, int]] = {}
    for row in changes.group_by(["partner_bc_id", "change"]).aggregate([("member_key", "count")]).to_pylist():
        if row["change"] in (ADDED, REMOVED):
            tally.setdefault(row["partner_bc_id"], {})[row["change"]] = row["member_key_count"]
    others = changes.filter(pc.invert(pc.is_in(changes.column("change"), value_set=pa.array([ADDED, REMOVED]))))
    updated = (others.group_by(["partner_bc_id", "member_key"]).aggregate([])
               .group_by("partner_bc_id").aggregate([("member_key", "count")]).to_pylist())
    for row in updated:
        tally.setdefault(row["partner_bc_id"], {})["updated"] = row["member_key_count"]
    return {bc: Counts(t.get(ADDED, 0), t.get("updated", 0), t.get(REMOVED, 0)) for bc, t in tally.items()}


def _record_syncs(cur: duckdb.DuckDBPyConnection, bcs: list[str], *, task_id: int, now: datetime,
                  members: dict[str, int], counts: dict[str, Counts]) -> None:
    """The `member_syncs` rows (baseline = the partner's first) and the partners' sync state."""
    zero = Counts()
    frame = pa.table({
        "task_id": pa.array([task_id] * len(bcs), pa.int64()), "partner_bc_id": pa.array(bcs, pa.string()),
        "members": [members[bc] for bc in bcs], "added": [counts.get(bc, zero).added for bc in bcs],
        "changed": [counts.get(bc, zero).updated for bc in bcs],
        "removed": [counts.get(bc, zero).removed for bc in bcs],
    })
    cur.register("_pw_syncs", frame)
    try:
        cur.execute(
            """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
               SELECT f.task_id, f.partner_bc_id, $now,
                      NOT EXISTS (SELECT 1 FROM member_syncs s WHERE s.partner_bc_id = f.partner_bc_id),
                      f.members, f.added, f.changed, f.removed
               FROM _pw_syncs f
               ON CONFLICT (task_id, partner_bc_id) DO UPDATE SET synced_at = excluded.synced_at,
                   members = excluded.members, added = excluded.added, changed = excluded.changed,
                   removed = excluded.removed""",
            {"now": now},
        )
    finally:
        cur.unregister("_pw_syncs")
    cur.execute(
        """UPDATE partners SET last_sync_at = $now, last_error = NULL,
               connection = CASE WHEN connection IN ('sync_failed', 'safeguard_halted') THEN 'connected'
                                 ELSE connection END
           WHERE list_contains($bcs, bc_id)""",
        {"now": now, "bcs": bcs},
    )


def _write_members(cur: duckdb.DuckDBPyConnection, bcs: list[str], diff: pa.Table, rekeys: pa.Table, *,
                   now: datetime, task_id: int) -> None:
    """Make the partners' stored rows equal the diff's rows, writing only what changed.

    Everyone current gets `last_seen` in one statement; then the rows that differ otherwise (new, returned,
    removed, changed fields or reach) are updated in place or inserted. A re-keyed row (and the removed row
    it replaces under its new key) is deleted and inserted under its new key.
    """
    if rekeys.num_rows:
        cur.register("_pw_moved", pa.concat_tables([
            rekeys.select(["partner_bc_id", "old_key"]).rename_columns(["partner_bc_id", "member_key"]),
            rekeys.select(["partner_bc_id", "new_key"]).rename_columns(["partner_bc_id", "member_key"])]))
        try:
            cur.execute("""DELETE FROM members USING _pw_moved m
                           WHERE members.partner_bc_id = m.partner_bc_id AND members.member_key = m.member_key""")
        finally:
            cur.unregister("_pw_moved")
    cur.execute("UPDATE members SET last_seen = $now, last_task_id = $task "
                "WHERE list_contains($bcs, partner_bc_id) AND removed_at IS NULL",
                {"now": now, "task": task_id, "bcs": bcs})
    rows = diff.filter(diff.column("dirty"))
    in_place = pc.fill_null(pc.and_not(pc.is_valid(rows.column("rid")), rows.column("moved")), False)
    updates = rows.filter(in_place)
    # Rewriting user_id or user_email costs ~8 ms per 1,000 rows, every other column ~1 ms per column: so only
    # rows whose identity changed (rare) get them, with the search columns derived from them.
    renamed = updates.column("identity_changed")
    _update_by_rowid(cur, "members", updates.filter(renamed).select(["rid", *_ROW_COLUMNS]),
                     also_set=_DERIVED_COLUMNS)
    _update_by_rowid(cur, "members", updates.filter(pc.invert(renamed)).select(["rid", *_KEPT_IDENTITY_COLUMNS]),
                     also_set=_ROW_FLAG_COLUMNS)
    _insert_members(cur, rows.filter(pc.invert(in_place)).select(_ROW_COLUMNS))


def _insert_members(cur: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """INSERT new member rows with their derived columns."""
    if rows.num_rows == 0:
        return
    derived = ", ".join(f"{expr} AS {name}" for name, expr in _DERIVED_COLUMNS.items())
    cur.register("_pw_new_members", rows)
    try:
        cur.execute(f"INSERT INTO members BY NAME SELECT f.*, {derived} FROM _pw_new_members f")
    finally:
        cur.unregister("_pw_new_members")


def _write_assets(cur: duckdb.DuckDBPyConnection, bcs: list[str], assets: pa.Table, now: datetime) -> None:
    """Make the partners' `member_assets` equal `assets`, writing only what changed.

    Everything kept gets `synced_at` from one UPDATE; then the gone rows are deleted, the changed updated (both
    by the rowid just read) and the new inserted.
    """
    stored = _by_partner(cur.sql(
        "SELECT rowid AS rid, partner_bc_id, member_key, asset_id, asset_type, asset_name, asset_role "
        "FROM member_assets WHERE list_contains($bcs, partner_bc_id)", params={"bcs": bcs}).to_arrow_table(), bcs)
    fresh = _by_partner(assets, bcs)
    gone, updates, new = [], [], []
    for bc in bcs:
        stored_keys, keys = _asset_keys(stored[bc]), _asset_keys(fresh[bc])
        gone.extend(stored[bc].filter(pc.invert(pc.is_in(stored_keys, value_set=keys))).column("rid").to_pylist())
        at_stored = pc.index_in(keys, value_set=stored_keys)
        rid = pc.take(stored[bc].column("rid"), at_stored)
        changed = pc.and_(pc.is_valid(rid), pc.or_(
            _distinct(pc.take(stored[bc].column("asset_name"), at_stored), fresh[bc].column("asset_name")),
            _distinct(pc.take(stored[bc].column("asset_role"), at_stored), fresh[bc].column("asset_role"))))
        updates.append(pa.table({"rid": rid, "asset_name": fresh[bc].column("asset_name"),
                                 "asset_role": fresh[bc].column("asset_role")}).filter(changed))
        new.append(fresh[bc].filter(pc.is_null(rid)))
    if gone:
        cur.execute("DELETE FROM member_assets WHERE list_contains(?, rowid)", [gone])
    cur.execute("UPDATE member_assets SET synced_at = $now WHERE list_contains($bcs, partner_bc_id)",
                {"now": now, "bcs": bcs})
    _update_by_rowid(cur, "member_assets", pa.concat_tables(updates))
    bulk_insert(cur, "member_assets", pa.concat_tables(new))


def _asset_keys(table: pa.Table) -> pa.ChunkedArray:
    """(member key, asset id, asset type) as one string, for hash lookups."""
    return pc.binary_join_element_wise(table.column("member_key"), table.column("asset_id"),
                                       table.column("asset_type"), "\x1f")


def _update_by_rowid(cur: duckdb.DuckDBPyConnection, table: str, rows: pa.Table,
                     also_set: dict[str, str] | None = None) -> None:
    """UPDATE the rows of `table` read in this transaction (`rid`, their rowid) to the other columns of `rows`,
    and the columns of `also_set` to its expressions over them (`f.<column>`).

    In place rather than delete + insert: DuckDB then rewrites only the changed column segments, and the
    primary-key index is untouched (a delete + insert of 4,000 rows cost ~0.4 s at COMMIT on 200,000); by
    rowid rather than by key: half the cost of the key join.
    """
    if rows.num_rows == 0:
        return
    values = ", ".join([*(f"{c} = f.{c}" for c in rows.column_names if c not in ("rid", "partner_bc_id", "member_key")),
                        *(f"{name} = {expr}" for name, expr in (also_set or {}).items())])
    cur.register("_pw_update", rows)
    try:
        cur.execute(f"UPDATE {table} SET {values} FROM _pw_update f WHERE {table}.rowid = f.rid")
    finally:
        cur.unregister("_pw_update")


_STORED_COLUMNS = """m.partner_bc_id, m.user_id, m.user_name, m.user_email, m.user_role, m.finance_role,
           m.relation_status, m.last_seen, m.removed_at, m.added_task_id, m.last_task_id, m.asset_count, m.assets,
           m.asset_admin"""

# The partners' stored members, as they are (no re-keys this sync).
_STORED_CTE = f"""
WITH stored AS (
    SELECT m.rowid AS rid, m.member_key, {_STORED_COLUMNS}, m.first_seen, m.first_task_id, false AS moved
    FROM members m WHERE list_contains($bcs, m.partner_bc_id)
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
    LEFT JOIN _pw_rekeys r ON r.partner_bc_id = m.partner_bc_id AND r.old_key = m.member_key
    LEFT JOIN members h ON h.partner_bc_id = m.partner_bc_id AND h.member_key = r.new_key
    WHERE list_contains($bcs, m.partner_bc_id) AND NOT EXISTS (
        SELECT 1 FROM _pw_rekeys n WHERE n.partner_bc_id = m.partner_bc_id AND n.new_key = m.member_key)
)"""

_FIELDS = ("user_id", "user_name", "user_email", "user_role", "finance_role", "relation_status")
# Converted from the snapshot's dicts as struct arrays (in C++, unlike `Table.from_pylist`'s Python loops).
_FIELDS_STRUCT = pa.struct([(name, pa.string()) for name in _FIELDS])
_ROLE_STRUCT = pa.struct([f for f in ASSET_SCHEMA if f.name not in ("partner_bc_id", "synced_at")])
_REACH = ("asset_count", "assets", "asset_admin")
_ROW_COLUMNS = [*MEMBER_SCHEMA.names, *_REACH]
_IDENTITY = ("user_id", "user_name", "user_email")
_KEPT_IDENTITY_COLUMNS = [c for c in _ROW_COLUMNS if c not in _IDENTITY]
# What the Members page filters and sorts on, lower-cased once per write (migration 008 has the same SQL).
_SEARCH_COLUMNS = {"member_lower": "lower(coalesce(f.user_name, f.user_email))", "email_lower": "lower(f.user_email)",
                   "email_domain": "split_part(lower(f.user_email), '@', 2)"}
_ROW_FLAG_COLUMNS = {"row_flag_count": flags.row_flag_count_sql("f")}  # migration 010
_DERIVED_COLUMNS = {**_SEARCH_COLUMNS, **_ROW_FLAG_COLUMNS}
_REKEY_SCHEMA = pa.schema([("partner_bc_id", pa.string()), ("old_key", pa.string()), ("new_key", pa.string())])
_NO_REKEYS = _REKEY_SCHEMA.empty_table()

# (change, mask column, old value column, new value column, order within a member).
_CHANGE_KINDS = ((REMOVED, "removing", "old_user_role", None, 0), (ADDED, "added", None, "user_role", 0),
                 (ROLE_CHANGED, "role_changed", "old_user_role", "user_role", 1),
                 (FINANCE_ROLE_CHANGED, "finance_role_changed", "old_finance_role", "finance_role", 2),
                 (STATUS_CHANGED, "status_changed", "old_relation_status", "relation_status", 3))


def _change_rows(diff: pa.Table, *, task_id: int, now: datetime) -> pa.Table:
    """The sync's `member_changes` rows ordered by partner, member key, then kind."""
    parts = []
    diff = diff.select(["partner_bc_id", "member_key", "user_role", "finance_role", "relation_status",
                        *{kind[2] for kind in _CHANGE_KINDS if kind[2]}, *(kind[1] for kind in _CHANGE_KINDS)])
    for change, mask, old, new, order in _CHANGE_KINDS:
        hits = diff.filter(diff.column(mask))
        n = hits.num_rows
        parts.append(pa.table({
            "partner_bc_id": hits.column("partner_bc_id"), "member_key": hits.column("member_key"),
            "change": pa.array([change] * n, pa.string()),
            "old_value": hits.column(old) if old else pa.nulls(n, pa.string()),
            "new_value": hits.column(new) if new else pa.nulls(n, pa.string()),
            "order": pa.array([order] * n, pa.int8()),
        }))
    rows = pa.concat_tables(parts).sort_by([("partner_bc_id", "ascending"), ("member_key", "ascending"),
                                            ("order", "ascending")])
    n = rows.num_rows
    return pa.table({
        "task_id": pa.array([task_id] * n, pa.int64()), "partner_bc_id": rows.column("partner_bc_id"),
        "member_key": rows.column("member_key"), "change": rows.column("change"),
        "old_value": rows.column("old_value"), "new_value": rows.column("new_value"),
        "changed_at": pa.array([now] * n, _TS),
    }, schema=CHANGE_SCHEMA)


def _asset_table(snapshot: Snapshot, now: datetime) -> pa.Table:
    unique = {(r["member_key"], r["asset_id"], r["asset_type"]): r for r in snapshot.asset_roles}
    roles = pa.Table.from_struct_array(pa.array(list(unique.values()), type=_ROLE_STRUCT))
    n = roles.num_rows
    return pa.Table.from_arrays([pa.array([snapshot.partner_bc_id] * n, pa.string()), *roles.columns,
                                 pa.array([now] * n, _TS)], schema=ASSET_SCHEMA)


def _rekey_history(cur: duckdb.DuckDBPyConnection, rekeys: pa.Table) -> None:
    """Past change rows follow an invitee whose key moved from e-mail to user_id (or back)."""
    if not rekeys.num_rows:
        return
    cur.register("_pw_rekeyed", rekeys)
    try:
        cur.execute(
            """UPDATE member_changes SET member_key = r.new_key FROM _pw_rekeyed r
               WHERE member_changes.partner_bc_id = r.partner_bc_id AND member_changes.member_key = r.old_key""")
    finally:
        cur.unregister("_pw_rekeyed")


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
