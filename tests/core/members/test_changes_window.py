"""The change log and the timeline read a window: the `days` days up to the latest member sync (its first
instant included), or all history; baseline syncs' changes are left out unless asked for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from benchmarks import datagen
from core.members import changes
from core.store.database import Store
from tests.support.member_rows import T0

LATEST = T0 - timedelta(days=400)  # long before now: the window follows the syncs, not the clock
BOUNDARY = LATEST - timedelta(days=90)
SYNCS = [  # task, partner, synced_at, baseline
    (1, "p1", LATEST - timedelta(days=200), True),
    (2, "p1", BOUNDARY - timedelta(seconds=1), False),
    (3, "p1", BOUNDARY, False),
    (4, "p2", LATEST - timedelta(days=10), True),
    (5, "p1", LATEST, False),
    (5, "p2", LATEST, False),
]
CHANGES = [  # task, partner, member, change, old, new
    (1, "p1", "a", "added", None, "STANDARD"),
    (2, "p1", "a", "role_changed", "STANDARD", "ADMIN"),
    (3, "p1", "b", "added", None, "STANDARD"),
    (4, "p2", "c", "added", None, "ADMIN"),
    (5, "p1", "b", "removed", "STANDARD", None),
    (5, "p2", "c", "role_changed", "ADMIN", "STANDARD"),
]

CHANGE_MEMBERS = sorted({(bc, key) for _, bc, key, *_ in CHANGES})


@pytest.fixture
def history(store: Store) -> Store:
    at = {(task, bc): synced_at for task, bc, synced_at, _ in SYNCS}
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO partners (bc_id, name, connection) VALUES (?, ?, 'connected')",
            [["p1", "Agency One"], ["p2", "Agency Two"]],
        )
        cur.executemany(
            """INSERT INTO members (partner_bc_id, member_key, user_id, user_name, user_email, user_role,
                                    relation_status, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, 'STANDARD', 'BOUND', ?, ?)""",
            [[bc, key, key, f"Member {key}", f"{key}@agency.example", LATEST, LATEST] for bc, key in CHANGE_MEMBERS],
        )
        cur.executemany(
            """INSERT INTO member_syncs (task_id, partner_bc_id, synced_at, baseline, members, added, changed, removed)
               VALUES (?, ?, ?, ?, 1, 0, 0, 0)""",
            [list(row) for row in SYNCS],
        )
        cur.executemany(
            """INSERT INTO member_changes (task_id, partner_bc_id, member_key, change, old_value, new_value, changed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [[*row, at[row[0], row[1]]] for row in CHANGES],
        )
        cur.execute(datagen._LATEST_SQL)  # the summaries, as the member sync keeps them (migration 016)
        cur.execute(datagen._COUNTS_SQL)
    return store


def _tasks(frame) -> list[int]:
    return sorted(int(t) for t in frame["task_id"])


def test_the_window_starts_its_days_before_the_latest_sync(history: Store) -> None:
    assert changes.window(history, 90) == BOUNDARY
    assert changes.window(history, 7) == LATEST - timedelta(days=7)
    assert changes.window(history, None) is None
    assert changes.last_sync(history) == LATEST


def test_the_change_log_holds_the_window_with_its_first_instant(history: Store) -> None:
    assert _tasks(changes.changes(history)) == [3, 5, 5]  # 90 days by default; task 2 is a second earlier
    assert _tasks(changes.changes(history, days=7)) == [5, 5]
    assert _tasks(changes.changes(history, days=365)) == [2, 3, 5, 5]
    assert _tasks(changes.changes(history, days=None)) == [2, 3, 5, 5]


def test_baseline_changes_only_when_asked_for(history: Store) -> None:
    log = changes.changes(history, include_baseline=True)
    assert _tasks(log) == [3, 4, 5, 5]
    assert log.set_index("task_id")["baseline"].to_dict() == {3: False, 4: True, 5: False}
    assert _tasks(changes.changes(history, include_baseline=True, days=None)) == [1, 2, 3, 4, 5, 5]
    assert list(changes.changes(history)["baseline"]) == [False, False, False]


def test_the_change_log_is_newest_first_with_its_members(history: Store) -> None:
    log = changes.changes(history, partner_bc_id="p1", days=None)
    assert list(log["task_id"]) == [5, 3, 2]
    assert list(log["member"]) == ["Member b", "Member b", "Member a"]
    assert list(log["partner"]) == ["Agency One"] * 3
    assert list(log["change"]) == ["Removed", "Added", "Role changed"]
    assert len(changes.changes(history, days=None, limit=1)) == 1


def test_the_timeline_counts_the_window(history: Store) -> None:
    counts = {(int(r.task_id), r.change): int(r.members) for r in changes.timeline(history).itertuples()}
    assert counts == {(3, "Added"): 1, (5, "Removed"): 1, (5, "Role changed"): 1}
    assert {int(t) for t in changes.timeline(history, days=None)["task_id"]} == {2, 3, 5}
    assert {int(t) for t in changes.timeline(history, include_baseline=True, days=None)["task_id"]} == {1, 2, 3, 4, 5}
    assert {int(t) for t in changes.timeline(history, include_baseline=True)["task_id"]} == {3, 4, 5}


def test_before_any_sync_the_window_is_all_history(store: Store) -> None:
    assert changes.window(store, 90) is None
    assert changes.last_sync(store) is None
    assert changes.changes(store).empty
    assert changes.timeline(store).empty


def test_a_window_is_at_least_a_day(history: Store) -> None:
    with pytest.raises(ValueError):
        changes.changes(history, days=0)


def test_the_summary_line_leaves_out_first_syncs(history: Store) -> None:
    now = LATEST + timedelta(days=1)
    expected = "0 new admins since last week (1 guest user removed, 1 role change)."
    assert changes.summary_line(history, now=now) == expected
    # 15 days reach p2's first sync (which added an admin): still left out
    assert changes.summary_line(history, now=now, days=15) == (
        "0 new admins in the last 15 days (1 guest user removed, 1 role change)."
    )
