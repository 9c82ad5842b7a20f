"""The scheduler thread runs the housekeeping chores once per chore interval (claimed in the database, so once
across processes), and survives a failing one."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

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
