"""PostgreSQL's `member_counts` (migrations 017 and 018) stays equal to the members it counts through every kind of
write: the sync's inserts, in-place updates and removals, the `last_seen` refresh, changes of the risk-flag inputs,
a disconnected partner, a DELETE and a TRUNCATE; and the page's totals read from it (flag filters included) are
the counts of the rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks import datagen
from core.members import columns, flags, paging
from core.members.filters import MemberFilter
from core.store.database import Store
from core.sync import member_write
from core.sync.member_tables import Snapshot
from tests.support.backends import PgCluster

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
_KEY = "partner_bc_id, user_role, relation_status, removed, row_flag_count, finance_manager, asset_admin, email_domain"
_ROWS = f"""SELECT partner_bc_id, user_role, relation_status, removed_at IS NOT NULL AS removed,
                   coalesce(row_flag_count, {flags.row_flag_count_sql("members")}) AS row_flag_count,
                   coalesce(finance_role = 'MANAGER', false), coalesce(asset_admin, false), email_domain,
                   count(*) AS members
            FROM members GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"""


@pytest.fixture
def pg(pg_cluster: PgCluster) -> Iterator[Store]:
    url = pg_cluster.fresh_database()
    store = Store(url)
    yield store
    store.close()
    pg_cluster.drop(url)


_SEEN = """SELECT 'seen', partner_bc_id, removed_at IS NOT NULL, last_seen, count(*) FROM members GROUP BY 2, 3, 4"""


def _counted(store: Store) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    """(the kept counts without the zeros, the counts of the rows now): `member_counts`' and `member_seen`'s."""
    with store.read() as cur:
        kept = cur.execute(f"SELECT {_KEY}, members FROM member_counts WHERE members <> 0").fetchall()
        kept += cur.execute(
            "SELECT 'seen', partner_bc_id, removed, last_seen, members FROM member_seen WHERE members <> 0"
        ).fetchall()
        rows = cur.execute(_ROWS).fetchall() + cur.execute(_SEEN).fetchall()
    return set(kept), set(rows)


def _sync(store: Store, snapshots: list[Snapshot], task_id: int, now: datetime) -> None:
    with store.write() as cur:
        for snap in snapshots:
            member_write.apply(cur, snap, partner_name=snap.partner_bc_id, task_id=task_id, now=now, threshold=100.0)


def _first_sync(store: Store, base: list[Snapshot]) -> None:
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [[s.partner_bc_id, f"Agency {n}"] for n, s in enumerate(base)],
        )
    _sync(store, base, 1, T0)


def test_the_counts_follow_every_write(pg: Store) -> None:
    base = [datagen.snapshot(p, 80) for p in range(3)]
    _first_sync(pg, base)
    kept, rows = _counted(pg)
    assert kept == rows
    assert sum(r[-1] for r in rows if r[0] == "seen") == sum(r[-1] for r in rows if r[0] != "seen") == 240

    changed = [datagen.changed(s, 0.3, seed=n) for n, s in enumerate(base)]  # roles, statuses, removed, new
    _sync(pg, changed, 2, T0 + timedelta(days=1))
    kept, rows = _counted(pg)
    assert kept == rows
    assert any(removed for (_, _, _, removed, *_) in rows if _ != "seen")

    with pg.write() as cur:  # what the sync's reach and a renamed e-mail change, and a change that moves nothing
        cur.execute("UPDATE members SET asset_admin = NOT coalesce(asset_admin, false) WHERE member_key LIKE '%1'")
        cur.execute("UPDATE members SET finance_role = 'MANAGER' WHERE member_key LIKE '%2'")
        cur.execute("UPDATE members SET email_domain = 'gmail.com' WHERE member_key LIKE '%3'")
        cur.execute("UPDATE members SET finance_role = 'ANALYST' WHERE finance_role IS NULL AND member_key LIKE '%4'")
        cur.execute("UPDATE members SET row_flag_count = NULL WHERE member_key LIKE '%5'")
    kept, rows = _counted(pg)
    assert kept == rows

    with pg.write() as cur:
        member_write.remove_partner(cur, base[0].partner_bc_id, T0 + timedelta(days=2))
        cur.execute("DELETE FROM members WHERE partner_bc_id = ?", [base[1].partner_bc_id])
    assert _counted(pg)[0] == _counted(pg)[1]

    for f in (
        MemberFilter(),
        MemberFilter(include_removed=True),
        MemberFilter(roles=("ADMIN",), sort="member"),
        MemberFilter(statuses=("PENDING",), partners=(base[2].partner_bc_id,), sort="flags"),
        MemberFilter(flags=("asset_admin", "partner_admin")),
        MemberFilter(flags=("personal_email",), sort="flags", descending=True),
        MemberFilter(flags=("finance_manager", "invitation_pending"), roles=("STANDARD",)),
        MemberFilter(flags=("personal_email", "new_member")),  # not from the counts: scanned
    ):
        sql, params = columns.query(pg, f, (), "count(*)")
        with pg.read() as cur:
            scanned = cur.execute(sql, params).fetchone()
        assert scanned is not None
        assert paging.count(pg, f) == scanned[0] == paging.view(pg, f).total

    with pg.write() as cur:
        cur.execute("TRUNCATE members")
    assert _counted(pg) == (set(), set())


def test_the_last_seen_order_reads_the_groups_it_spans(pg: Store) -> None:
    base = [datagen.snapshot(p, 70) for p in range(3)]
    _first_sync(pg, base)
    # partner 0 synced again later (its removed members keep T0), partner 1 later still, partner 2 not again
    _sync(pg, [datagen.changed(base[0], 0.4, seed=1)], 2, T0 + timedelta(days=1))
    _sync(pg, [datagen.changed(base[1], 0.4, seed=2)], 3, T0 + timedelta(days=2))
    with pg.write() as cur:  # members seen at times of their own
        cur.execute(
            "UPDATE members SET last_seen = ? WHERE member_key = (SELECT min(member_key) FROM members)",
            [T0 + timedelta(hours=30)],
        )
        cur.execute("UPDATE members SET last_seen = ? WHERE member_key = (SELECT max(member_key) FROM members)", [T0])
    kept, rows = _counted(pg)
    assert kept == rows
    for f, offset in (
        (MemberFilter(sort="last_seen", descending=True), 0),
        (MemberFilter(sort="last_seen", descending=True), 50),
        (MemberFilter(sort="last_seen"), 100),
        (MemberFilter(sort="last_seen", include_removed=True, descending=True), 150),
        (MemberFilter(sort="last_seen", include_removed=True), 20),
        (MemberFilter(sort="last_seen", partners=(base[0].partner_bc_id, base[2].partner_bc_id)), 40),
    ):
        tail = f"{columns.order(f)} LIMIT 50 OFFSET ?"
        sql, params = columns.query(pg, f, columns.order_reads(f), "partner_bc_id, member_key", tail, [offset])
        with pg.read() as cur:
            expected = [tuple(row) for row in cur.execute(sql, params).fetchall()]
        shown = paging.page(pg, f, offset=offset)
        assert list(zip(shown["partner_bc_id"], shown["member_key"], strict=True)) == expected
        assert len(expected) == 50 or offset + len(expected) == paging.count(pg, f)
        assert paging.view(pg, f, offset // 50 + 1).total == paging.count(pg, f)
