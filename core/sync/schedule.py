"""Scheduled sync ("Workspace policy"): a daily Check for updates at a configured UTC time.

The policy lives in `settings_kv` (`schedule.daily_enabled`, `schedule.daily_time` as HH:MM UTC) and is
edited in Settings → Sync policy. `Scheduler` is one daemon thread per process that runs jobs (role `all`
or `worker`, started by `core.worker`; never per browser session; `start()` twice returns the running one).
Every `CHECK_INTERVAL_S` it calls `tick()`, which claims the day in the database before requesting the sync:
a row of `schedule_claims` keyed by (job, UTC day), inserted with ON CONFLICT DO NOTHING, so a day's run
happens once however many processes tick, race or restart; a process that was down at the scheduled time
catches up when it starts that day. Housekeeping chores are claimed the same way, once per interval; one of
them (`purge_claims`) deletes the claims older than `CLAIMS_KEPT_FOR`.
Cron can call `python -m core.cli sync` instead (or as well: a sync already running is joined).
"""

from __future__ import annotations

import logging
import re
import threading
import time as time_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.errors import InvalidInput
from core.security import audit
from core.security.roles import SYSTEM_SCHEDULER, Actor, require_admin
from core.services import Services
from core.store import settings
from core.store.database import Store
from core.sync import check_for_updates
from core.tasks.jobs import TRIGGER_POLICY, process_name

log = logging.getLogger(__name__)

ENABLED_KEY = "schedule.daily_enabled"
TIME_KEY = "schedule.daily_time"
DAILY_SYNC = "daily-sync"  # schedule_claims.job: the daily sync (slot: the UTC day)
HOUSEKEEPING = "housekeeping"  # schedule_claims.job: the chores (slot: the interval's number since the epoch)
DEFAULT_TIME = time(6, 0)
CHECK_INTERVAL_S = 30.0
CHORE_INTERVAL_S = 3600.0  # housekeeping (e.g. purging expired OAuth flows) once an hour
CLAIMS_KEPT_FOR = timedelta(days=30)  # schedule_claims rows older than this are purged (a housekeeping chore)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Policy:
    enabled: bool
    at: time  # UTC
    last_run: date | None

    def due(self, now: datetime) -> bool:
        """Enabled, the day's time has passed, and today's run has not been claimed yet."""
        now = now.astimezone(UTC)
        return self.enabled and now.time() >= self.at and self.last_run != now.date()

    def next_run(self, now: datetime) -> datetime | None:
        if not self.enabled:
            return None
        now = now.astimezone(UTC)
        today = datetime.combine(now.date(), self.at, tzinfo=UTC)
        return today + timedelta(days=1) if self.last_run == now.date() else today  # past today: due now

    def describe(self, now: datetime | None = None) -> str:
        if not self.enabled:
            return "Scheduled sync is off (Settings → Sync policy)."
        upcoming = self.next_run(now or datetime.now(UTC))
        return (
            f"Scheduled sync: daily at {self.at:%H:%M} UTC (trigger “{TRIGGER_POLICY}”); "
            f"next run {upcoming:%Y-%m-%d %H:%M} UTC."
        )


def _settings(store: Store) -> tuple[dict[str, str], date | None]:
    """The policy's settings and the last day whose run was claimed."""
    with store.read() as cur:
        values = settings.get_many(cur, [ENABLED_KEY, TIME_KEY])
        row = cur.execute("SELECT max(slot) FROM schedule_claims WHERE job = ?", [DAILY_SYNC]).fetchone()
    return values, date.fromisoformat(row[0]) if row and row[0] else None


def parse_time(text: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise InvalidInput(f"{text!r} is not a time of day as HH:MM (24-hour, UTC)")
    return time(int(match.group(1)), int(match.group(2)))


def policy(store: Store) -> Policy:
    values, last_run = _settings(store)
    try:
        at = parse_time(values.get(TIME_KEY, "")) if TIME_KEY in values else DEFAULT_TIME
    except ValueError:
        log.warning("settings_kv %s is not HH:MM (%r): using %s", TIME_KEY, values[TIME_KEY], DEFAULT_TIME)
        at = DEFAULT_TIME
    return Policy(enabled=values.get(ENABLED_KEY) == "true", at=at, last_run=last_run)


def set_policy(store: Store, actor: Actor, *, enabled: bool, at: time) -> Policy:
    """Turn the daily sync on or off and set its UTC time (admins; audited)."""
    require_admin(actor, "change the sync policy")
    with store.write() as cur:
        settings.put(cur, ENABLED_KEY, "true" if enabled else "false", by=actor.email)
        settings.put(cur, TIME_KEY, f"{at:%H:%M}", by=actor.email)
        audit.record(
            store,
            actor=actor.email,
            action="settings.sync_policy",
            target="daily sync",
            outcome="ok",
            detail=f"{'on' if enabled else 'off'} at {at:%H:%M} UTC",
        )
    return policy(store)


def claim(store: Store, job: str, slot: str) -> bool:
    """Take `job`'s run for `slot` (e.g. today's daily sync) for this process; False when any process (this one
    included) took it already. One INSERT: the primary key lets exactly one claimer win, on any database."""
    with store.write() as cur:
        row = cur.execute(
            """INSERT INTO schedule_claims (job, slot, claimed_by, claimed_at) VALUES (?, ?, ?, ?)
               ON CONFLICT DO NOTHING RETURNING slot""",
            [job, slot, process_name(), datetime.now(UTC)],
        ).fetchone()
    return row is not None


def purge_claims(store: Store, *, now: datetime | None = None, kept_for: timedelta = CLAIMS_KEPT_FOR) -> int:
    """Delete the claims older than `kept_for` (a housekeeping chore: one row per day and one per chore interval
    would otherwise pile up forever); returns how many. Only past slots go: a claim stops its slot running again
    only during the slot (today's daily sync, this interval's chores), and the latest daily-sync claim (the "last
    run" the policy reads) is kept whatever its age."""
    cutoff = (now or datetime.now(UTC)) - kept_for
    with store.write() as cur:
        row = cur.execute(
            """DELETE FROM schedule_claims WHERE claimed_at < ?
                 AND NOT (job = ? AND slot = (SELECT max(slot) FROM schedule_claims WHERE job = ?))""",
            [cutoff, DAILY_SYNC, DAILY_SYNC],
        ).fetchone()
    return int(row[0]) if row else 0


def tick(services: Services, now: datetime | None = None) -> int | None:
    """Start the day's scheduled sync when it is due; returns its task id, or None."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if not policy(services.store).due(now) or not claim(services.store, DAILY_SYNC, now.date().isoformat()):
        return None
    log.info("Workspace policy: starting the daily Check for updates")
    return check_for_updates.request(services, actor=SYSTEM_SCHEDULER, trigger=TRIGGER_POLICY)


Chore = Callable[[Services], object]


class Scheduler:
    """The process's scheduler thread: calls `tick` every `interval_s`, and the housekeeping chores (e.g. purging
    expired OAuth flows, given by `core.worker`, which knows the packages above this one) once per
    `chore_interval_s` across all processes."""

    def __init__(
        self,
        services: Callable[[], Services],
        interval_s: float = CHECK_INTERVAL_S,
        chores: Sequence[Chore] = (),
        chore_interval_s: float = CHORE_INTERVAL_S,
    ) -> None:
        self._services = services
        self._interval_s = interval_s
        self._chores = list(chores)
        self._chore_interval_s = chore_interval_s
        self._chore_slot: str | None = None  # the last interval this process looked at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pw-scheduler", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                tick(self._services())
            except Exception:  # keep the schedule alive; the next tick tries again
                log.exception("Workspace policy: the scheduled sync check failed")
            self._housekeeping()
            self._stop.wait(self._interval_s)

    def _housekeeping(self) -> None:
        """Run the chores once per interval across every process: the first to claim the slot runs them."""
        slot = str(int(time_module.time() // self._chore_interval_s))
        if not self._chores or slot == self._chore_slot:
            return
        self._chore_slot = slot
        try:
            if not claim(self._services().store, HOUSEKEEPING, slot):
                return
        except Exception:
            log.exception("Housekeeping: could not claim the interval")
            return
        for chore in self._chores:
            try:
                chore(self._services())
            except Exception:
                log.exception("Housekeeping chore %s failed", getattr(chore, "__name__", chore))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)


_lock = threading.Lock()
_running: Scheduler | None = None


def start(
    services: Callable[[], Services], interval_s: float = CHECK_INTERVAL_S, chores: Sequence[Chore] = ()
) -> Scheduler:
    """Start the process's scheduler, or return the one already running (guard against double start)."""
    global _running
    with _lock:
        if _running is None or not _running.alive:
            _running = Scheduler(services, interval_s, chores)
            _running._thread.start()
        return _running


def stop() -> None:
    """Stop the process's scheduler (lifespan shutdown, tests)."""
    global _running
    with _lock:
        current, _running = _running, None
    if current is not None:
        current.stop()
