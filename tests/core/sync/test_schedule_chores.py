"""The scheduler thread runs the app's housekeeping chores once per chore interval, and survives a failing one."""

from __future__ import annotations

import threading
from typing import Any

from core.sync import schedule


class _Services:
    store = None


def test_chores_run_once_per_interval_and_a_failing_chore_does_not_stop_the_others(monkeypatch: Any) -> None:
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
        lambda: _Services(), interval_s=0.01, chores=[failing, counting], chore_interval_s=0.3
    )
    scheduler._thread.start()
    try:
        assert twice.wait(5)
    finally:
        scheduler.stop()
    assert ran[:2] == ["failing", "counting"]  # both ran, in order, although the first failed
    assert ran.count("counting") == 2  # ~30 ticks in the 0.3 s between the two runs: once per interval
