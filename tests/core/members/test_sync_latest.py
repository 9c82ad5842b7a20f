"""Migration 016's summaries, kept in step by the member sync's own write and backfilled by the migration:
`member_sync_latest`, one row per partner, its latest member sync, as `arg_max(…, synced_at)` over every
`member_syncs` row finds it (the Members query's "new since the partner's latest sync" flag reads it); and
`member_change_counts`, the changes per sync, partner, kind and time (the Changes chart sums it)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from benchmarks.datagen import plain_snapshot
from core.members import paging
from core.members.filters import MemberFilter
from core.store.database import MIGRATIONS_DIR, Store
from core.sync import member_write
from core.sync.member_tables import Snapshot
from tests.support.member_rows import T0

PARTNERS = ("p1", "p2")


def _latest(store: Store) -> list[tuple]:
    with store.read() as cur:
        return cur.execute(
            "SELECT partner_bc_id, task_id, synced_at, baseline FROM member_sync_latest ORDER BY ALL"
        ).fetchall()


def _counts(store: Store) -> list[tuple]:
    with store.read() as cur:
        return cur.execute(
            """SELECT task_id, partner_bc_id, change, changed_at, sum(members) FROM member_change_counts
               GROUP BY ALL ORDER BY ALL"""
        ).fetchall()


def _counted(store: Store) -> list[tuple]:
    """The counts computed from every change."""
    with store.read() as cur:
        return cur.execute(
            "SELECT task_id, partner_bc_id, change, changed_at, count(*) FROM member_changes GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def _reference(store: Store) -> list[tuple]:
    """Each partner's latest sync computed from every `member_syncs` row (the scan the table replaces)."""
    with store.read() as cur:
        return cur.execute(
            """SELECT partner_bc_id, task_id, synced_at, baseline FROM member_syncs
               QUALIFY row_number() OVER (PARTITION BY partner_bc_id ORDER BY synced_at DESC, task_id DESC) = 1
               ORDER BY ALL"""
        ).fetchall()


def _sync(store: Store, task_id: int, days: float, snapshots: list[Snapshot]) -> None:
    items = [(s, s.partner_bc_id) for s in snapshots]
    with store.write() as cur:
        member_write.apply_many(cur, items, task_id=task_id, now=T0 + timedelta(days=days), threshold=100)


def _partners(store: Store) -> None:
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [[bc, f"Agency {bc}"] for bc in PARTNERS],
        )


def test_the_summaries_follow_every_sync(store: Store) -> None:
    _partners(store)
    assert _latest(store) == []
    _sync(store, 1, 0, [plain_snapshot("p1", 3)])  # p1's baseline
    assert [row[:2] + row[3:] for row in _latest(store)] == [("p1", 1, True)]
    _sync(store, 2, 1, [plain_snapshot("p1", 4), plain_snapshot("p2", 2)])  # p2's baseline
    assert [row[:2] + row[3:] for row in _latest(store)] == [("p1", 2, False), ("p2", 2, True)]
    _sync(store, 3, 2, [plain_snapshot("p2", 3)])  # p1 not synced: its latest stays task 2
    _sync(store, 3, 2.5, [plain_snapshot("p2", 4)])  # the same task again: a later synced_at
    assert [row[:2] + row[3:] for row in _latest(store)] == [("p1", 2, False), ("p2", 3, False)]
    assert _latest(store) == _reference(store)
    _sync(store, 4, 0.5, [plain_snapshot("p1", 5)])  # an older clock than p1's latest: not the latest
    assert _latest(store) == _reference(store)
    assert ("p1", 2) in [row[:2] for row in _latest(store)]
    assert _counts(store) == _counted(store)
    assert sum(row[-1] for row in _counts(store)) == 3 + 1 + 2 + 1 + 1 + 1  # every member added, one by one


def test_the_new_member_flag_reads_the_latest_sync(store: Store) -> None:
    _partners(store)
    _sync(store, 1, 0, [plain_snapshot("p1", 3), plain_snapshot("p2", 2)])
    new = MemberFilter(flags=("new_member",))
    assert paging.count(store, new) == 0  # a first sync adds no one as new
    _sync(store, 2, 1, [plain_snapshot("p1", 5)])
    assert paging.count(store, new) == 2
    _sync(store, 3, 2, [plain_snapshot("p1", 5)])  # nothing added by p1's latest sync
    assert paging.count(store, new) == 0


def test_the_migration_backfills_the_summaries(tmp_path: Path) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for migration in MIGRATIONS_DIR.glob("*.sql"):
        if migration.name < "016":
            shutil.copy(migration, before)
    path = tmp_path / "pw.duckdb"
    old = Store(path, migrations_dir=before)
    with old.write() as cur:
        cur.executemany(
            """INSERT INTO member_changes (task_id, partner_bc_id, member_key, change, changed_at)
               VALUES (?, ?, ?, ?, ?)""",
            [
                [1, "p1", "a", "added", T0],
                [1, "p1", "b", "added", T0],
                [5, "p1", "a", "role_changed", T0 + timedelta(days=2)],
                [5, "p1", "b", "role_changed", T0 + timedelta(days=2)],
                [5, "p1", "b", "status_changed", T0 + timedelta(days=2)],
                [None, "p2", "c", "added", T0],
            ],
        )
        cur.executemany(
            """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
               VALUES (?, ?, ?, ?, 1, 0, 0, 0)""",
            [
                [1, "p1", T0, True],
                [5, "p1", T0 + timedelta(days=2), False],
                [3, "p1", T0 + timedelta(days=3), False],  # the latest by time, not by task number
                [2, "p2", T0 + timedelta(days=1), True],
                [7, "p3", T0 + timedelta(days=1), True],  # a tie on synced_at: the greater task
                [6, "p3", T0 + timedelta(days=1), False],
            ],
        )
    old.close()
    migrated = Store(path)
    assert [row[:2] + row[3:] for row in _latest(migrated)] == [("p1", 3, False), ("p2", 2, True), ("p3", 7, True)]
    assert _latest(migrated) == _reference(migrated)
    assert _counts(migrated) == _counted(migrated)
    assert [row[2:] for row in _counts(migrated) if row[0] == 5] == [
        ("role_changed", T0 + timedelta(days=2), 2),
        ("status_changed", T0 + timedelta(days=2), 1),
    ]
    migrated.close()
