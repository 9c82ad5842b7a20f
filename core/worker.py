"""The background side of a process: Check for updates tasks, the daily schedule, housekeeping, alerts.

A process of role `all` (the app's lifespan, `make run`) or `worker` (`python -m core.cli worker`) calls
`start`: its job runner claims Queued Check for updates tasks from the database, the scheduler thread fires
the daily sync and the housekeeping chores (each once across all processes: `core.sync.schedule`), and the
alert dispatcher sends what the syncs recorded. A `web` process runs none of it: its requests only queue
tasks. `stop` stops them (the tasks still running after their grace end `Not completed`); the caller then
closes the services.

`run_worker` is the worker process itself: it logs, and returns when SIGTERM or SIGINT arrives.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from core.alerts import dispatcher
from core.connect import oauth_flows
from core.services import Services
from core.sync import check_for_updates, schedule

log = logging.getLogger(__name__)

STOP_GRACE_S = 20.0  # on SIGTERM, how long the tasks in flight may take to end before they end Not completed


def purge_oauth_flows(svc: Services) -> None:
    """Housekeeping: OAuth attempts a day past their expiry are deleted."""
    purged = oauth_flows.purge_expired(svc.store)
    if purged:
        log.info("Purged %d expired OAuth flows", purged)


def purge_schedule_claims(svc: Services) -> None:
    """Housekeeping: the schedule's claims of past days and intervals, past their retention, are deleted."""
    purged = schedule.purge_claims(svc.store)
    if purged:
        log.info("Purged %d old schedule claims", purged)


CHORES: list[schedule.Chore] = [purge_oauth_flows, purge_schedule_claims]


def start(services: Callable[[], Services]) -> None:
    """Claim and run tasks, fire the schedule and housekeeping, send alerts (one thread each per process)."""
    check_for_updates.serve(services())
    schedule.start(services, chores=CHORES)
    dispatcher.start(services)


def stop(svc: Services, grace_s: float = 0.0) -> None:
    """Stop firing the schedule, stop claiming (tasks in flight get `grace_s` to end, then end Not completed),
    then stop the dispatcher, which may still send what those tasks recorded."""
    schedule.stop()
    in_flight = svc.runner.running
    if in_flight and grace_s:
        log.info("Waiting up to %.0f s for task(s) %s", grace_s, in_flight)
    svc.runner.shutdown(grace_s)
    dispatcher.stop()  # a delivery in flight is sent again after the restart, with the same idempotency key


def run_worker(svc: Services, stopping: threading.Event | None = None, grace_s: float = STOP_GRACE_S) -> None:
    """The worker process: start, wait for SIGTERM/SIGINT (or `stopping`), stop cleanly, close the services."""
    stopping = stopping or threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:  # no logging here: the main thread may hold its lock
        received.append(signal.Signals(signum).name)
        stopping.set()

    main = threading.current_thread() is threading.main_thread()  # only the main thread may take signals
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        start(lambda: svc)
        log.info(
            "Worker %s started (role %s): claims Check for updates tasks, runs the daily schedule, housekeeping "
            "and the alert dispatcher",
            svc.runner.name,
            svc.settings.process_role,
        )
        while not stopping.wait(0.5):
            pass
        log.info("Worker %s stopping (%s)", svc.runner.name, ", ".join(received) or "asked to")
    finally:
        stop(svc, grace_s)
        svc.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("Worker %s stopped", svc.runner.name)
