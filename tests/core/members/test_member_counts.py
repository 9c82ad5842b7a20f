"""PostgreSQL's `member_counts` (migration 017) stays equal to the members it counts through every kind of write:
the sync's inserts, in-place updates and removals, the `last_seen` refresh, a disconnected partner, a DELETE and
a TRUNCATE; and the page's totals read from it are the counts of the rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks import datagen
from core.members import filters, flags, paging
from core.members.filters import MemberFilter
from core.store.database import Store
from core.sync import member_write
from core.sync.member_diff import Snapshot
from tests.support.backends import PgCluster

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
_KEY = "partner_bc_id, user_role, relation_status, removed, row_flag_count"
_ROWS = f"""SELECT partner_bc_id, user_role, relation_status, removed_at IS NOT NULL AS removed,
                   coalesce(row_flag_count, {flags.row_flag_count_sql("members")}) AS row_flag_count,
                   count(*) AS members
            FROM members GROUP BY 1, 2, 3, 4, 5"""


@pytest.fixture
def pg(pg_cluster: PgCluster) -> Iterator[Store]:
    url = pg_cluster.fresh_database()
    store = Store(url)
    yield store
    store.close()
    pg_cluster.drop(url)


def _counted(store: Store) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    """(the kept counts without the zeros, the counts of the rows now)."""
    with store.read() as cur:
        kept = cur.execute(f"SELECT {_KEY}, members FROM member_counts WHERE members <> 0").fetchall()
        rows = cur.execute(_ROWS).fetchall()
    return set(kept), set(rows)


def _sync(store: Store, snapshots: list[Snapshot], task_id: int, now: datetime) -> None:
    with store.write() as cur:
        for snap in snapshots:
            member_write.apply(cur, snap, partner_name=snap.partner_bc_id, task_id=task_id, now=now, threshold=100.0)


def test_the_counts_follow_every_write(pg: Store) -> None:
    base = [datagen.snapshot(p, 80) for p in range(3)]
    with pg.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [[s.partner_bc_id, f"Agency {n}"] for n, s in enumerate(base)],
        )
    _sync(pg, base, 1, T0)
    kept, rows = _counted(pg)
    assert kept == rows
    assert sum(r[-1] for r in rows) == 240

    changed = [datagen.changed(s, 0.3, seed=n) for n, s in enumerate(base)]  # roles, statuses, removed, new
    _sync(pg, changed, 2, T0 + timedelta(days=1))
    kept, rows = _counted(pg)
    assert kept == rows
    assert any(removed for (_, _, _, removed, _, _) in rows)

    with pg.write() as cur:
        member_write.remove_partner(cur, base[0].partner_bc_id, T0 + timedelta(days=2))
        cur.execute("DELETE FROM members WHERE partner_bc_id = ?", [base[1].partner_bc_id])
    assert _counted(pg)[0] == _counted(pg)[1]

    for f in (
        MemberFilter(),
        MemberFilter(include_removed=True),
        MemberFilter(roles=("ADMIN",), sort="member"),
        MemberFilter(statuses=("PENDING",), partners=(base[2].partner_bc_id,), sort="flags"),
    ):
        where = filters.where(f, dialect="postgresql")
        with pg.read() as cur:
            scanned = cur.execute(f"SELECT count(*) FROM members m WHERE {where.sql}", list(where.params)).fetchone()
        assert scanned is not None
        assert paging.count(pg, f) == scanned[0] == paging.view(pg, f).total

    with pg.write() as cur:
        cur.execute("TRUNCATE members")
    assert _counted(pg) == (set(), set())
