"""Writing partners' member diffs: all or nothing per partner, only the rows that differ, grouped commits.

`apply_many` reads the partners' stored members (with their rowids), asks `member_diff` for the diff, lets the
mass-removal safeguard halt any partner before anything of it is written, then writes in place (UPDATE ... FROM
the changed rows by rowid, INSERT of new keys; no delete + re-insert) with each member's reach; everyone still
current gets `last_seen` from one UPDATE. `group_commit.GroupWriter` batches the partners whose writes queue up
into one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from core.accounts import connection
from core.alerts import outbox
from core.members import flags
from core.store.cursor import Cursor
from core.store.database import bulk_insert, dialect_of
from core.sync.errors import SyncHalted
from core.sync.member_diff import NO_REKEYS, MemberDiff, by_partner, diff_partners, is_distinct
from core.sync.member_tables import MEMBER_SCHEMA, REACH, TIMESTAMP, Snapshot
from core.sync.safeguard import Plan, check_safeguard
from core.tasks.jobs import Counts

_ROW_COLUMNS = [*MEMBER_SCHEMA.names, *REACH]
_IDENTITY = ("user_id", "user_name", "user_email")
_KEPT_IDENTITY_COLUMNS = [c for c in _ROW_COLUMNS if c not in _IDENTITY]

# What the Members page filters and sorts on, lower-cased once per write (migration 008 has the same SQL).
_SEARCH_COLUMNS = {
    "member_lower": "lower(coalesce(f.user_name, f.user_email))",
    "email_lower": "lower(f.user_email)",
    "email_domain": "split_part(lower(f.user_email), '@', 2)",
}

_ROW_FLAG_COLUMNS = {"row_flag_count": flags.row_flag_count_sql("f")}  # migration 010

_DERIVED_COLUMNS = {**_SEARCH_COLUMNS, **_ROW_FLAG_COLUMNS}


def apply(
    cur: Cursor,
    snapshot: Snapshot,
    *,
    partner_name: str,
    task_id: int,
    now: datetime,
    threshold: float,
) -> Counts:
    """Write one partner's snapshot inside the caller's transaction (see `apply_many`); raises SyncHalted."""
    (result,) = apply_many(cur, [(snapshot, partner_name)], task_id=task_id, now=now, threshold=threshold)
    if isinstance(result, SyncHalted):
        raise result
    return result


def apply_many(
    cur: Cursor,
    items: Sequence[tuple[Snapshot, str]],
    *,
    task_id: int,
    now: datetime,
    threshold: float,
    before_write: Callable[[list[str]], None] | None = None,
) -> list[Counts | SyncHalted]:
    """Write partners' snapshots (with their names) inside the caller's transaction, with one set of statements
    for all of them; returns each partner's counts, or the SyncHalted that kept it from being written.

    Only the rows that differ are written (plus one statement for everyone's `last_seen`).
    `before_write` gets the partners that pass the safeguard, before anything is written.
    """
    snapshots = [snapshot for snapshot, _ in items]
    bcs = [snapshot.partner_bc_id for snapshot in snapshots]
    if len(set(bcs)) != len(bcs):
        raise ValueError("apply_many takes each partner once")
    diff = diff_partners(
        _stored(cur, bcs, NO_REKEYS),
        snapshots,
        now=now,
        task_id=task_id,
        restored=lambda moved, rekeys: _stored(cur, moved, rekeys),
    )
    results = [_judged(diff, bc_id, name, threshold) for bc_id, name in zip(bcs, (n for _, n in items), strict=True)]
    kept = [bc_id for bc_id, result in zip(bcs, results, strict=True) if not isinstance(result, SyncHalted)]
    if not kept:
        return results
    if before_write is not None:
        before_write(kept)
    if len(kept) < len(bcs):
        diff = diff.only(kept)
    _rekey_history(cur, diff.rekeys)
    _write_members(cur, kept, diff.rows, diff.rekeys, now=now, task_id=task_id)
    _write_assets(cur, kept, diff.assets, now)
    bulk_insert(cur, "member_changes", diff.changes)
    _count_changes(cur, diff.changes)
    outbox.record_member_changes(cur, task_id=task_id, partner_bc_ids=kept)  # before this sync's member_syncs rows
    members = {snapshot.partner_bc_id: len(snapshot.members) for snapshot in snapshots}
    _record_syncs(cur, kept, task_id=task_id, now=now, members=members, counts=diff.counts)
    return results


def _judged(diff: MemberDiff, bc_id: str, name: str, threshold: float) -> Counts | SyncHalted:
    plan = Plan(current_before=diff.current_before.get(bc_id, 0), counts=diff.counts.get(bc_id, Counts()))
    try:
        check_safeguard(plan, partner_name=name, threshold=threshold)
    except SyncHalted as halted:
        return halted
    return plan.counts


def _stored(cur: Cursor, bcs: list[str], rekeys: pa.Table) -> dict[str, pa.Table]:
    return by_partner(_read_stored(cur, bcs, rekeys), bcs)


def _read_stored(cur: Cursor, bcs: list[str], rekeys: pa.Table) -> pa.Table:
    """The partners' stored members (re-keys applied when there are any), with their rowid in `rid`."""
    sql = (_REKEYED_CTE if rekeys.num_rows else _STORED_CTE) + " SELECT * FROM stored"
    cur.register("_pw_rekeys", rekeys)
    try:
        stored = cur.sql(sql, params={"bcs": bcs}).to_arrow_table()
    finally:
        cur.unregister("_pw_rekeys")
    for name in ("first_seen", "last_seen", "removed_at"):  # the session's time zone name varies
        stored = stored.set_column(stored.schema.get_field_index(name), name, stored.column(name).cast(TIMESTAMP))
    return stored


def _count_changes(cur: Cursor, changes: pa.Table) -> None:
    """The changes' counts per partner, kind and time, beside them (migration 016; the Changes chart reads them)."""
    if not changes.num_rows:
        return
    cur.register("_pw_changes", changes)
    try:
        cur.execute(
            """INSERT INTO member_change_counts (task_id, partner_bc_id, change, changed_at, members)
               SELECT task_id, partner_bc_id, change, changed_at, count(*) FROM _pw_changes
               GROUP BY task_id, partner_bc_id, change, changed_at"""
        )
    finally:
        cur.unregister("_pw_changes")


# The partners' latest syncs (migration 016) follow their `member_syncs` rows just written: latest = the greatest
# `synced_at`, then `task_id`.
_LATEST_SQL = """
INSERT INTO member_sync_latest (partner_bc_id, task_id, synced_at, baseline)
SELECT s.partner_bc_id, s.task_id, s.synced_at, s.baseline
FROM member_syncs s JOIN _pw_syncs f ON f.partner_bc_id = s.partner_bc_id AND f.task_id = s.task_id
ON CONFLICT (partner_bc_id) DO UPDATE SET task_id = excluded.task_id, synced_at = excluded.synced_at,
    baseline = excluded.baseline
WHERE excluded.synced_at > member_sync_latest.synced_at
   OR (excluded.synced_at = member_sync_latest.synced_at AND excluded.task_id >= member_sync_latest.task_id)"""


def _record_syncs(
    cur: Cursor,
    bcs: list[str],
    *,
    task_id: int,
    now: datetime,
    members: dict[str, int],
    counts: dict[str, Counts],
) -> None:
    """The `member_syncs` rows (baseline = the partner's first), the partners' latest syncs and their sync state."""
    zero = Counts()
    frame = pa.table(
        {
            "task_id": pa.array([task_id] * len(bcs), pa.int64()),
            "partner_bc_id": pa.array(bcs, pa.string()),
            "members": [members[bc] for bc in bcs],
            "added": [counts.get(bc, zero).added for bc in bcs],
            "changed": [counts.get(bc, zero).updated for bc in bcs],
            "removed": [counts.get(bc, zero).removed for bc in bcs],
        }
    )
    cur.register("_pw_syncs", frame)
    try:
        cur.execute(
            """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
               SELECT f.task_id, f.partner_bc_id, $now,
                      NOT EXISTS (SELECT 1 FROM member_sync_latest s WHERE s.partner_bc_id = f.partner_bc_id),
                      f.members, f.added, f.changed, f.removed
               FROM _pw_syncs f
               ON CONFLICT (task_id, partner_bc_id) DO UPDATE SET synced_at = excluded.synced_at,
                   members = excluded.members, added = excluded.added, changed = excluded.changed,
                   removed = excluded.removed""",
            {"now": now},
        )
        cur.execute(_LATEST_SQL)
    finally:
        cur.unregister("_pw_syncs")
    connection.synced(cur, bcs, now)


def _write_members(
    cur: Cursor, bcs: list[str], diff: pa.Table, rekeys: pa.Table, *, now: datetime, task_id: int
) -> None:
    """Make the partners' stored rows equal the diff's rows, writing only what changed.

    Everyone current gets `last_seen` in one statement; then the rows that differ otherwise (new, returned,
    removed, changed fields or reach) are updated in place or inserted. A re-keyed row (and the removed row
    it replaces under its new key) is deleted and inserted under its new key.
    """
    if rekeys.num_rows:
        cur.register(
            "_pw_moved",
            pa.concat_tables(
                [
                    rekeys.select(["partner_bc_id", "old_key"]).rename_columns(["partner_bc_id", "member_key"]),
                    rekeys.select(["partner_bc_id", "new_key"]).rename_columns(["partner_bc_id", "member_key"]),
                ]
            ),
        )
        try:
            cur.execute("""DELETE FROM members USING _pw_moved m
                           WHERE members.partner_bc_id = m.partner_bc_id AND members.member_key = m.member_key""")
        finally:
            cur.unregister("_pw_moved")
    cur.execute(
        "UPDATE members SET last_seen = $now, last_task_id = $task "
        "WHERE partner_bc_id = ANY($bcs) AND removed_at IS NULL",
        {"now": now, "task": task_id, "bcs": bcs},
    )
    rows = diff.filter(diff.column("dirty"))
    in_place = pc.fill_null(pc.and_not(pc.is_valid(rows.column("rid")), rows.column("moved")), False)
    updates = rows.filter(in_place)
    # Rewriting user_id or user_email costs several times any other column (benchmarks/RESULTS.md): so only
    # rows whose identity changed (rare) get them, with the search columns derived from them.
    renamed = updates.column("identity_changed")
    _update_by_rowid(cur, "members", updates.filter(renamed).select(["rid", *_ROW_COLUMNS]), also_set=_DERIVED_COLUMNS)
    _update_by_rowid(
        cur,
        "members",
        updates.filter(pc.invert(renamed)).select(["rid", *_KEPT_IDENTITY_COLUMNS]),
        also_set=_ROW_FLAG_COLUMNS,
    )
    _insert_members(cur, rows.filter(pc.invert(in_place)).select(_ROW_COLUMNS))


def _insert_members(cur: Cursor, rows: pa.Table) -> None:
    """INSERT new member rows with their derived columns."""
    if rows.num_rows == 0:
        return
    columns = ", ".join([*rows.column_names, *_DERIVED_COLUMNS])
    values = ", ".join([*(f"f.{c}" for c in rows.column_names), *_DERIVED_COLUMNS.values()])
    cur.register("_pw_new_members", rows)
    try:
        cur.execute(f"INSERT INTO members ({columns}) SELECT {values} FROM _pw_new_members f")
    finally:
        cur.unregister("_pw_new_members")


def _write_assets(cur: Cursor, bcs: list[str], assets: pa.Table, now: datetime) -> None:
    """Make the partners' `member_assets` equal `assets`, writing only what changed.

    Everything kept gets `synced_at` from one UPDATE; then the gone rows are deleted, the changed updated (both
    by the rowid just read) and the new inserted. On PostgreSQL the same in SQL against the fresh rows (one
    COPY): reading every stored asset row back into Python cost more there than the writes.
    """
    if dialect_of(cur) == "postgresql":
        _write_assets_in_sql(cur, bcs, assets, now)
        return
    stored = by_partner(
        cur.sql(
            "SELECT rowid AS rid, partner_bc_id, member_key, asset_id, asset_type, asset_name, asset_role "
            "FROM member_assets WHERE partner_bc_id = ANY($bcs)",
            params={"bcs": bcs},
        ).to_arrow_table(),
        bcs,
    )
    fresh = by_partner(assets, bcs)
    gone, updates, new = [], [], []
    for bc in bcs:
        stored_keys, keys = _asset_keys(stored[bc]), _asset_keys(fresh[bc])
        gone.extend(stored[bc].filter(pc.invert(pc.is_in(stored_keys, value_set=keys))).column("rid").to_pylist())
        at_stored = pc.index_in(keys, value_set=stored_keys)
        rid = pc.take(stored[bc].column("rid"), at_stored)
        changed = pc.and_(
            pc.is_valid(rid),
            pc.or_(
                is_distinct(pc.take(stored[bc].column("asset_name"), at_stored), fresh[bc].column("asset_name")),
                is_distinct(pc.take(stored[bc].column("asset_role"), at_stored), fresh[bc].column("asset_role")),
            ),
        )
        updates.append(
            pa.table(
                {"rid": rid, "asset_name": fresh[bc].column("asset_name"), "asset_role": fresh[bc].column("asset_role")}
            ).filter(changed)
        )
        new.append(fresh[bc].filter(pc.is_null(rid)))
    if gone:
        cur.execute("DELETE FROM member_assets WHERE rowid = ANY(?)", [gone])
    cur.execute("UPDATE member_assets SET synced_at = $now WHERE partner_bc_id = ANY($bcs)", {"now": now, "bcs": bcs})
    _update_by_rowid(cur, "member_assets", pa.concat_tables(updates))
    bulk_insert(cur, "member_assets", pa.concat_tables(new))


_SAME_ASSET = """f.partner_bc_id = a.partner_bc_id AND f.member_key = a.member_key AND f.asset_id = a.asset_id
    AND f.asset_type = a.asset_type"""


def _write_assets_in_sql(cur: Cursor, bcs: list[str], assets: pa.Table, now: datetime) -> None:
    """`_write_assets` on PostgreSQL: the gone rows deleted, every kept row updated (its `synced_at`, and its
    name and role, the same values where unchanged: the row is rewritten for `synced_at` anyway), the new
    inserted; the stored rows are not read back."""
    cur.register("_pw_assets", assets)
    try:
        cur.execute(
            f"""DELETE FROM member_assets a WHERE a.partner_bc_id = ANY($bcs)
                AND NOT EXISTS (SELECT 1 FROM _pw_assets f WHERE {_SAME_ASSET})""",
            {"bcs": bcs},
        )
        cur.execute(
            f"""UPDATE member_assets a SET synced_at = $now, asset_name = f.asset_name, asset_role = f.asset_role
                FROM _pw_assets f WHERE a.partner_bc_id = ANY($bcs) AND {_SAME_ASSET}""",
            {"now": now, "bcs": bcs},
        )
        columns = ", ".join(assets.column_names)
        cur.execute(
            f"""INSERT INTO member_assets ({columns}) SELECT {", ".join(f"f.{c}" for c in assets.column_names)}
                FROM _pw_assets f WHERE f.partner_bc_id = ANY($bcs)
                AND NOT EXISTS (SELECT 1 FROM member_assets a WHERE {_SAME_ASSET})""",
            {"bcs": bcs},
        )
    finally:
        cur.unregister("_pw_assets")


def _asset_keys(table: pa.Table) -> pa.ChunkedArray:
    """(member key, asset id, asset type) as one string, for hash lookups."""
    return pc.binary_join_element_wise(
        table.column("member_key"), table.column("asset_id"), table.column("asset_type"), "\x1f"
    )


def _update_by_rowid(cur: Cursor, table: str, rows: pa.Table, also_set: dict[str, str] | None = None) -> None:
    """UPDATE the rows of `table` read in this transaction (`rid`, their rowid) to the other columns of `rows`,
    and the columns of `also_set` to its expressions over them (`f.<column>`).

    In place rather than delete + insert: DuckDB then rewrites only the changed column segments, and the
    primary-key index is untouched (a delete + insert rebuilt it at COMMIT); by rowid rather than by key: half
    the cost of the key join (figures in benchmarks/RESULTS.md).
    """
    if rows.num_rows == 0:
        return
    values = ", ".join(
        [
            *(f"{c} = f.{c}" for c in rows.column_names if c not in ("rid", "partner_bc_id", "member_key")),
            *(f"{name} = {expr}" for name, expr in (also_set or {}).items()),
        ]
    )
    cur.register("_pw_update", rows)
    try:
        cur.execute(f"UPDATE {table} SET {values} FROM _pw_update f WHERE {table}.rowid = f.rid")
    finally:
        cur.unregister("_pw_update")


def _rekey_history(cur: Cursor, rekeys: pa.Table) -> None:
    """Past change rows follow an invitee whose key moved from e-mail to user_id (or back)."""
    if not rekeys.num_rows:
        return
    cur.register("_pw_rekeyed", rekeys)
    try:
        cur.execute(
            """UPDATE member_changes SET member_key = r.new_key FROM _pw_rekeyed r
               WHERE member_changes.partner_bc_id = r.partner_bc_id AND member_changes.member_key = r.old_key"""
        )
    finally:
        cur.unregister("_pw_rekeyed")


_STORED_COLUMNS = """m.partner_bc_id, m.user_id, m.user_name, m.user_email, m.user_role, m.finance_role,
           m.relation_status, m.last_seen, m.removed_at, m.added_task_id, m.last_task_id, m.asset_count, m.assets,
           m.asset_admin"""

# The partners' stored members, as they are (no re-keys this sync).
_STORED_CTE = f"""
WITH stored AS (
    SELECT m.rowid AS rid, m.member_key, {_STORED_COLUMNS}, m.first_seen, m.first_task_id, false AS moved
    FROM members m WHERE m.partner_bc_id = ANY($bcs)
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
    WHERE m.partner_bc_id = ANY($bcs) AND NOT EXISTS (
        SELECT 1 FROM _pw_rekeys n WHERE n.partner_bc_id = m.partner_bc_id AND n.new_key = m.member_key)
)"""


def remove_partner(cur: Cursor, bc_id: str, now: datetime) -> None:
    """A disconnected partner's members are no longer current (their rows and history stay)."""
    cur.execute("UPDATE members SET removed_at = ? WHERE partner_bc_id = ? AND removed_at IS NULL", [now, bc_id])
