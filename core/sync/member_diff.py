"""The member diff: a partner's fetched snapshot against its stored rows, in Arrow, without a database.

Members are keyed by (partner BC id, user_id or lower(e-mail)); an invitee who joins (e-mail key → user_id key)
keeps its row and history (a re-key). `diff_partners` joins each snapshot with the partner's stored rows and
gives every member row after the sync beside its stored values, the `member_changes` rows, the reach per member
and the counts; `core.sync.member_write` writes only the rows that differ. The tests hold it to the same diff in
plain Python (`tests/core/sync/reference_plan.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.sync.member_tables import (
    ADDED,
    CHANGE_SCHEMA,
    FIELDS,
    FINANCE_ROLE_CHANGED,
    REACH,
    REMOVED,
    ROLE_CHANGED,
    STATUS_CHANGED,
    TIMESTAMP,
    Snapshot,
    asset_table,
    fetched_table,
)
from core.tasks.jobs import Counts

# Partners' snapshots are turned into tables and joined with their stored rows on this many threads: pyarrow's
# kernels release the GIL (figures in benchmarks/RESULTS.md, store_upsert). The same threads for every diff:
# a pool per diff started new threads for each group, and the allocator kept what each of them had freed
# (benchmarks/RESULTS.md, Memory).
_PREPARE_THREADS = 2
_prepare_pool: ThreadPoolExecutor | None = None
_prepare_pool_lock = threading.Lock()


def _preparers() -> ThreadPoolExecutor:
    global _prepare_pool
    with _prepare_pool_lock:
        if _prepare_pool is None:
            _prepare_pool = ThreadPoolExecutor(max_workers=_PREPARE_THREADS, thread_name_prefix="pw-member-diff")
        return _prepare_pool


_REKEY_SCHEMA = pa.schema([("partner_bc_id", pa.string()), ("old_key", pa.string()), ("new_key", pa.string())])

NO_REKEYS = _REKEY_SCHEMA.empty_table()

# (change, mask column, old value column, new value column, order within a member).
_CHANGE_KINDS = (
    (REMOVED, "removing", "old_user_role", None, 0),
    (ADDED, "added", None, "user_role", 0),
    (ROLE_CHANGED, "role_changed", "old_user_role", "user_role", 1),
    (FINANCE_ROLE_CHANGED, "finance_role_changed", "old_finance_role", "finance_role", 2),
    (STATUS_CHANGED, "status_changed", "old_relation_status", "relation_status", 3),
)


@dataclass(frozen=True)
class MemberDiff:
    """What a sync changes for some partners: every member row after it (`rows`, with `dirty` marking those to
    write), the change log rows, the reach rows, the re-keys, and per partner the counts and current members
    before it (what the mass-removal safeguard judges)."""

    rows: pa.Table
    changes: pa.Table
    assets: pa.Table
    rekeys: pa.Table
    counts: dict[str, Counts]
    current_before: dict[str, int]

    def only(self, bcs: list[str]) -> MemberDiff:
        """The same diff for these partners alone."""
        return replace(
            self,
            rows=only_partners(self.rows, bcs),
            changes=only_partners(self.changes, bcs),
            assets=only_partners(self.assets, bcs),
            rekeys=only_partners(self.rekeys, bcs),
        )


def diff_partners(
    stored: Mapping[str, pa.Table],
    snapshots: Sequence[Snapshot],
    *,
    now: datetime,
    task_id: int,
    restored: Callable[[list[str], pa.Table], Mapping[str, pa.Table]],
) -> MemberDiff:
    """The diff of each snapshot against its partner's stored rows (`stored`, as `member_write` reads them).

    `restored(partners, rekeys)` gives those partners' stored rows again with the re-keys applied; it is called
    only when an invitee's key moved (rare).
    """
    bcs = [snapshot.partner_bc_id for snapshot in snapshots]
    current = {bc: stored[bc].column("removed_at").null_count for bc in bcs}

    def prepared(snapshot: Snapshot) -> tuple[pa.Table, pa.Table, pa.Table]:
        fetched, assets = fetched_table(snapshot), asset_table(snapshot, now)
        return fetched, assets, _joined(stored[snapshot.partner_bc_id], fetched, assets)

    tables = dict(zip(bcs, _preparers().map(prepared, snapshots), strict=True))
    fetched, assets, joined = ({bc: parts[i] for bc, parts in tables.items()} for i in range(3))
    rekeys = pa.concat_tables([_rekeys(joined[bc]) for bc in bcs])
    if rekeys.num_rows:  # rare: join those partners again with the re-keys applied to their stored rows
        moved = sorted(set(rekeys.column("partner_bc_id").to_pylist()))
        again = restored(moved, rekeys)
        joined.update({bc: _joined(again[bc], fetched[bc], assets[bc]) for bc in moved})
    rows = _next_rows(pa.concat_tables(list(joined.values())), now=now, task_id=task_id)
    changes = _change_rows(rows, task_id=task_id, now=now)
    return MemberDiff(
        rows=rows,
        changes=changes,
        assets=pa.concat_tables(list(assets.values())),
        rekeys=rekeys,
        counts=_counts_by_partner(changes),
        current_before=current,
    )


def only_partners(table: pa.Table, bcs: list[str]) -> pa.Table:
    return table.filter(pc.is_in(table.column("partner_bc_id"), value_set=pa.array(bcs, pa.string())))


def by_partner(table: pa.Table, bcs: list[str]) -> dict[str, pa.Table]:
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
    """`find_rekeys` for one partner (from `_joined`), given only what it can match: current stored members
    whose key vanished (with an e-mail), and fetched members that are not current, in fetched order."""
    was_current = pc.and_(joined.column("in_store"), pc.is_null(joined.column("old_removed_at")))
    vanished = joined.filter(
        pc.and_(pc.and_not(was_current, joined.column("seen")), pc.is_valid(joined.column("old_user_email")))
    )
    arrivals = joined.filter(pc.and_not(joined.column("seen"), was_current))
    if not vanished.num_rows or not arrivals.num_rows:
        return NO_REKEYS
    stored = {
        key: {"removed_at": None, "user_email": email}
        for key, email in zip(
            vanished.column("member_key").to_pylist(), vanished.column("old_user_email").to_pylist(), strict=True
        )
    }
    fetched = {
        key: {"user_email": email}
        for key, email in zip(
            arrivals.column("member_key").to_pylist(), arrivals.column("f_user_email").to_pylist(), strict=True
        )
    }
    rekeys = find_rekeys(stored, fetched)
    bc_id = joined.column("partner_bc_id")[0].as_py()
    return pa.table(
        {"partner_bc_id": [bc_id] * len(rekeys), "old_key": list(rekeys), "new_key": list(rekeys.values())},
        schema=_REKEY_SCHEMA,
    )


def find_rekeys(stored: Mapping[str, Mapping[str, Any]], fetched: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Current stored members whose key vanished while a new key appeared with the same e-mail."""
    vanished = {
        str(row["user_email"] or "").lower(): key
        for key, row in stored.items()
        if row["removed_at"] is None and key not in fetched and row["user_email"]
    }
    rekeys: dict[str, str] = {}
    for key, member in fetched.items():
        known = stored.get(key)
        if known is not None and known["removed_at"] is None:
            continue
        old_key = vanished.pop(str(member["user_email"] or "").lower(), None)
        if old_key is not None:
            rekeys[old_key] = key
    return rekeys


def _joined(stored: pa.Table, fetched: pa.Table, assets: pa.Table) -> pa.Table:
    """One partner's fetched rows with their stored values (hash lookup of the key) and reach, then the stored
    rows that were not fetched: what `_next_rows` needs. Per partner, because lookups in 4,000 keys stay in the
    CPU cache, unlike lookups in 200,000."""
    keys = ["partner_bc_id", "member_key"]
    olds = [c for c in stored.column_names if c not in keys]
    at_stored = pc.index_in(fetched.column("member_key"), value_set=stored.column("member_key"))
    gone = stored.filter(pc.invert(pc.is_in(stored.column("member_key"), value_set=fetched.column("member_key"))))
    old_values = stored.select(olds).take(at_stored)
    seen = pa.table(
        {
            **{c: fetched.column(c) for c in keys},
            "seen": pa.array([True] * fetched.num_rows, pa.bool_()),
            "in_store": pc.is_valid(at_stored),
            **{f"f_{c}": fetched.column(c) for c in FIELDS},
            **{f"old_{c}": old_values.column(c) for c in olds},
        }
    )
    not_seen = pa.table(
        {
            **{c: gone.column(c) for c in keys},
            "seen": pa.array([False] * gone.num_rows, pa.bool_()),
            "in_store": pa.array([True] * gone.num_rows, pa.bool_()),
            **{f"f_{c}": pa.nulls(gone.num_rows, pa.string()) for c in FIELDS},
            **{f"old_{c}": gone.column(c) for c in olds},
        },
        schema=seen.schema,
    )
    joined = pa.concat_tables([seen, not_seen])
    reach = _reach(assets)
    at_reach = pc.index_in(joined.column("member_key"), value_set=reach.column("member_key"))
    return (
        joined.append_column("reach_count", pc.take(reach.column("count"), at_reach))
        .append_column("reach_text", pc.take(reach.column("text"), at_reach))
        .append_column("reach_admin", pc.take(reach.column("admin"), at_reach))
    )


def _reach(assets: pa.Table) -> pa.Table:
    """Per member of one partner: the number of assets reached, the display text ("Acme Ads (ADVERTISER:
    ADMIN); ..." ordered by asset name, then id) and whether any role is ADMIN."""
    ordered = assets.sort_by([("member_key", "ascending"), ("asset_name", "ascending"), ("asset_id", "ascending")])
    text = pc.binary_join_element_wise(
        pc.coalesce(ordered.column("asset_name"), ordered.column("asset_id")),
        " (",
        ordered.column("asset_type"),
        ": ",
        pc.coalesce(ordered.column("asset_role"), "?"),
        ")",
        "",
    )
    admin = pc.fill_null(pc.equal(ordered.column("asset_role"), "ADMIN"), False)
    grouped = (
        pa.table({"member_key": ordered.column("member_key"), "text": text, "admin": admin})
        .group_by("member_key", use_threads=False)  # one thread keeps each list in the sorted order
        .aggregate([("text", "list"), ("text", "count"), ("admin", "any")])
    )
    return pa.table(
        {
            "member_key": grouped.column("member_key"),
            "count": grouped.column("text_count"),
            "text": pc.binary_join(grouped.column("text_list"), "; "),
            "admin": grouped.column("admin_any"),
        }
    )


def is_distinct(a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
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
    at, task = pa.scalar(now, TIMESTAMP), pa.scalar(task_id, pa.int64())
    out: dict[str, object] = {
        "rid": col("old_rid"),
        "moved": pc.fill_null(col("old_moved"), False),
        "partner_bc_id": col("partner_bc_id"),
        "member_key": col("member_key"),
    }
    for name in FIELDS:
        out[name] = pc.if_else(seen, col(f"f_{name}"), col(f"old_{name}"))
    out["first_seen"] = pc.if_else(new, at, col("old_first_seen"))
    out["last_seen"] = pc.if_else(seen, at, col("old_last_seen"))
    out["removed_at"] = pc.if_else(seen, pa.scalar(None, TIMESTAMP), pc.coalesce(col("old_removed_at"), at))
    out["first_task_id"] = pc.if_else(new, task, col("old_first_task_id"))
    out["added_task_id"] = pc.if_else(added, task, col("old_added_task_id"))
    out["last_task_id"] = pc.if_else(seen, task, col("old_last_task_id"))
    out["asset_count"] = pc.fill_null(col("reach_count"), 0).cast(pa.int32())
    out["assets"] = pc.fill_null(col("reach_text"), "")
    out["asset_admin"] = pc.fill_null(col("reach_admin"), False)
    kept = pc.and_not(seen, added)
    out.update(
        {
            "added": added,
            "removing": removing,
            "old_user_role": col("old_user_role"),
            "old_finance_role": col("old_finance_role"),
            "old_relation_status": col("old_relation_status"),
            "role_changed": pc.and_(kept, is_distinct(col("old_user_role"), out["user_role"])),
            "finance_role_changed": pc.and_(kept, is_distinct(col("old_finance_role"), out["finance_role"])),
            "status_changed": pc.and_(kept, is_distinct(col("old_relation_status"), out["relation_status"])),
        }
    )
    dirty = pc.or_(pc.or_(new, out["moved"]), pc.or_(added, removing))
    for name in (*FIELDS, *REACH):
        dirty = pc.or_(dirty, is_distinct(col(f"old_{name}"), out[name]))
    out["dirty"] = dirty
    out["identity_changed"] = pc.fill_null(
        pc.or_(
            pc.or_(
                is_distinct(col("old_user_id"), out["user_id"]), is_distinct(col("old_user_name"), out["user_name"])
            ),
            is_distinct(col("old_user_email"), out["user_email"]),
        ),
        False,
    )
    return pa.table(out)


def _counts_by_partner(changes: pa.Table) -> dict[str, Counts]:
    """Added and removed members, and members with any other change, per partner."""
    tally: dict[str, dict[str, int]] = {}
    for row in changes.group_by(["partner_bc_id", "change"]).aggregate([("member_key", "count")]).to_pylist():
        if row["change"] in (ADDED, REMOVED):
            tally.setdefault(row["partner_bc_id"], {})[row["change"]] = row["member_key_count"]
    others = changes.filter(pc.invert(pc.is_in(changes.column("change"), value_set=pa.array([ADDED, REMOVED]))))
    updated = (
        others.group_by(["partner_bc_id", "member_key"])
        .aggregate([])
        .group_by("partner_bc_id")
        .aggregate([("member_key", "count")])
        .to_pylist()
    )
    for row in updated:
        tally.setdefault(row["partner_bc_id"], {})["updated"] = row["member_key_count"]
    return {bc: Counts(t.get(ADDED, 0), t.get("updated", 0), t.get(REMOVED, 0)) for bc, t in tally.items()}


def _change_rows(diff: pa.Table, *, task_id: int, now: datetime) -> pa.Table:
    """The sync's `member_changes` rows ordered by partner, member key, then kind."""
    parts = []
    diff = diff.select(
        [
            "partner_bc_id",
            "member_key",
            "user_role",
            "finance_role",
            "relation_status",
            *{kind[2] for kind in _CHANGE_KINDS if kind[2]},
            *(kind[1] for kind in _CHANGE_KINDS),
        ]
    )
    for change, mask, old, new, order in _CHANGE_KINDS:
        hits = diff.filter(diff.column(mask))
        n = hits.num_rows
        parts.append(
            pa.table(
                {
                    "partner_bc_id": hits.column("partner_bc_id"),
                    "member_key": hits.column("member_key"),
                    "change": pa.array([change] * n, pa.string()),
                    "old_value": hits.column(old) if old else pa.nulls(n, pa.string()),
                    "new_value": hits.column(new) if new else pa.nulls(n, pa.string()),
                    "order": pa.array([order] * n, pa.int8()),
                }
            )
        )
    rows = pa.concat_tables(parts).sort_by(
        [("partner_bc_id", "ascending"), ("member_key", "ascending"), ("order", "ascending")]
    )
    n = rows.num_rows
    return pa.table(
        {
            "task_id": pa.array([task_id] * n, pa.int64()),
            "partner_bc_id": rows.column("partner_bc_id"),
            "member_key": rows.column("member_key"),
            "change": rows.column("change"),
            "old_value": rows.column("old_value"),
            "new_value": rows.column("new_value"),
            "changed_at": pa.array([now] * n, TIMESTAMP),
        },
        schema=CHANGE_SCHEMA,
    )
