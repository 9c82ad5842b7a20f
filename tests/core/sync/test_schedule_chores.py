"""The scheduler thread runs the housekeeping chores once per chore interval (claimed in the database, so once
across processes), and survives a failing one; the claims past their retention are purged by a chore."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from core import worker
from core.sync import schedule


def test_chores_run_once_per_interval_and_a_failing_chore_does_not_stop_the_others(monkeypatch: Any, store) -> None:
    monkeypatch.setattr(schedule, "tick", lambda services: None)
    ran: list[str] = []
    twice = threading.Event()

    def failing(services: object) -> None:
        ran.append("failing")
        raise RuntimeError("disk full")

    def counting(services: object) -> None:
        ran.append("counting")
        if ran.count("counting") == 2:
            twice.set()

    scheduler = schedule.Scheduler(
        lambda: SimpleNamespace(store=store), interval_s=0.01, chores=[failing, counting], chore_interval_s=0.3
    )
    scheduler._thread.start()
    try:
        assert twice.wait(5)
    finally:
        scheduler.stop()
    assert ran[:2] == ["failing", "counting"]  # both ran, in order, although the first failed
    assert ran.count("counting") == 2  # ~30 ticks in the 0.3 s between the two runs: once per interval


def test_two_schedulers_on_one_database_run_each_intervals_chores_once(monkeypatch: Any, store) -> None:
    monkeypatch.setattr(schedule, "tick", lambda services: None)
    runs: list[str] = []
    enough = threading.Event()

    def chore(services: object) -> None:
        runs.append(threading.current_thread().name)
        if len(runs) >= 4:
            enough.set()

    schedulers = [
        schedule.Scheduler(lambda: SimpleNamespace(store=store), interval_s=0.01, chores=[chore], chore_interval_s=0.2)
        for _ in range(2)
    ]
    for scheduler in schedulers:
        scheduler._thread.start()
    try:
        assert enough.wait(10)
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    with store.read() as cur:
        claimed = cur.execute("SELECT count(*) FROM schedule_claims WHERE job = ?", [schedule.HOUSEKEEPING])
        intervals = claimed.fetchone()
    assert len(runs) == intervals[0], "an interval's chores ran in both schedulers"


def _claims(store, rows: list[tuple[str, str, datetime]]) -> None:
    with store.write() as cur:
        for job, slot, at in rows:
            cur.execute(
                "INSERT INTO schedule_claims (job, slot, claimed_by, claimed_at) VALUES (?, ?, 'test', ?)",
                [job, slot, at],
            )


def _left(store) -> set[tuple[str, str]]:
    with store.read() as cur:
        return {(r[0], r[1]) for r in cur.execute("SELECT job, slot FROM schedule_claims").fetchall()}


def _day(now: datetime, days_ago: int) -> tuple[str, str, datetime]:
    at = now - timedelta(days=days_ago)
    return (schedule.DAILY_SYNC, at.date().isoformat(), at)


def test_claims_past_their_retention_are_purged_and_the_last_daily_run_is_kept(store) -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    hourly = int(now.timestamp() // schedule.CHORE_INTERVAL_S)
    _claims(
        store,
        [
            _day(now, 100),
            _day(now, 31),
            _day(now, 29),
            _day(now, 0),
            (schedule.HOUSEKEEPING, str(hourly - 24 * 31), now - timedelta(days=31)),
            (schedule.HOUSEKEEPING, str(hourly), now),
        ],
    )
    assert schedule.purge_claims(store, now=now) == 3
    assert _left(store) == {_day(now, 29)[:2], _day(now, 0)[:2], (schedule.HOUSEKEEPING, str(hourly))}
    assert schedule.purge_claims(store, now=now) == 0


def test_the_last_daily_run_is_kept_however_old_so_the_policy_still_knows_it(store) -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    _claims(store, [_day(now, 200), _day(now, 90)])  # the schedule was turned off three months ago
    before = schedule.policy(store).last_run
    assert schedule.purge_claims(store, now=now) == 1
    assert schedule.policy(store).last_run == before == _day(now, 90)[2].date()


def test_the_workers_housekeeping_purges_old_claims(store) -> None:
    """The chores a worker (or an `all` process) runs include the purge: before, `schedule_claims` only grew."""
    old = datetime.now(UTC) - timedelta(days=60)  # past any sensible retention
    _claims(store, [(schedule.HOUSEKEEPING, "1", old), _day(old, 1), _day(old, 0)])
    scheduler = schedule.Scheduler(
        lambda: SimpleNamespace(store=store), interval_s=0.01, chores=worker.CHORES, chore_interval_s=0.2
    )
    scheduler._thread.start()
    try:
        deadline = time.monotonic() + 10
        while ((schedule.HOUSEKEEPING, "1") in _left(store) or _day(old, 1)[:2] in _left(store)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
    finally:
        scheduler.stop()
    left = _left(store)
    assert (schedule.HOUSEKEEPING, "1") not in left
    assert _day(old, 1)[:2] not in left
    assert _day(old, 0)[:2] in left  # the last daily run
