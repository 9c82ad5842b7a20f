"""The dispatcher: one thread per process (like the scheduler) that digests and sends alerts.

Each pass (every `POLL_S`, or at once when `wake()` is called at the end of a sync) first digests the
events of finished tasks into deliveries (`digest.make_deliveries`), then sends, per channel, its oldest
pending delivery when it is due, and the next ones while they succeed, so a channel receives its digests in
the order they were created. A failed attempt is retried after exponential backoff with jitter
(`backoff_s` × 2^(attempt-1), capped, times 0.5–1.0), or after the receiver's Retry-After (429/503); after
`max_attempts` the delivery is a dead letter.

Every delivery is claimed before it is sent (`outbox.claim`: one transaction, `FOR UPDATE SKIP LOCKED` on
PostgreSQL, a lease of `alerts_lease_s`), so however many processes dispatch from one database, each
attempt is made by one of them: a delivery is sent exactly once while the processes live. It is marked
delivered only after the receiver accepted it, so a process killed in between leaves it claimed until its lease
runs out; then another process (or this one after its restart; at once on the DuckDB file, which one process
opens) sends it again with the same `Idempotency-Key`, which is the receiver's to deduplicate on: at least once
on a crash. A send that outlives the lease may also be sent twice: keep `alerts_lease_s` well above the
senders' timeouts.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.alerts import channels, digest, outbox, render, senders
from core.alerts.ssrf import Guard
from core.errors import InvalidInput
from core.security import audit
from core.security.roles import Actor, require_admin
from core.services import Services

log = logging.getLogger(__name__)

POLL_S = 1.0
BUSY_POLL_S = 0.1  # while events wait for their task to end
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 8
    backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        backoff: float = min(MAX_BACKOFF_S, self.backoff_s * 2 ** max(0, attempt - 1))
        return backoff * random.uniform(0.5, 1.0)


def guard_for(services: Services) -> Guard:
    return Guard(sandbox=services.settings.sandbox, allow=services.settings.alerts_allow)


def policy_for(services: Services) -> Policy:
    s = services.settings
    return Policy(max_attempts=s.alerts_max_attempts, backoff_s=s.alerts_backoff_s)


def run_once(services: Services, now: datetime | None = None) -> int:
    """Digest what is ready and send what is due; returns how many deliveries were attempted."""
    now = now or datetime.now(UTC)
    digest.make_deliveries(services.store, public_url=services.settings.public_url, now=now)
    guard, policy, attempted = guard_for(services), policy_for(services), 0
    failed: list[int] = []  # channels whose delivery failed in this pass: they wait for their retry time
    lease_s = services.settings.alerts_lease_s
    while (delivery := outbox.claim(services.store, now, lease_s=lease_s, skip_channels=failed)) is not None:
        attempted += 1
        if not _attempt(services, guard, policy, delivery):
            failed.append(delivery.channel_id)
        now = datetime.now(UTC)
    return attempted


def _attempt(services: Services, guard: Guard, policy: Policy, delivery: outbox.Delivery) -> bool:
    kind = _kind(services, delivery.channel_id)
    if kind is None:
        result = senders.Result(False, "The channel was removed or turned off.")
    else:
        settings = channels.config(services.store, services.box, delivery.channel_id)
        result = senders.send(kind, settings, json.loads(delivery.payload), key=delivery.idempotency_key, guard=guard)
    now = datetime.now(UTC)
    if result.ok:
        outbox.mark_delivered(services.store, delivery.id, result.status, now)
        return True
    attempt = delivery.attempts + 1
    dead = attempt >= policy.max_attempts
    retry_at = now + timedelta(seconds=policy.delay(attempt, result.retry_after_s))
    outbox.mark_failed(
        services.store, delivery.id, error=result.answer, status=result.status, retry_at=retry_at, dead=dead, now=now
    )
    log.warning(
        "Alert delivery #%d attempt %d failed (%s)%s",
        delivery.id,
        attempt,
        result.answer,
        "; it is now a dead letter" if dead else f"; next attempt at {retry_at:%H:%M:%S} UTC",
    )
    return False


def _kind(services: Services, channel_id: int) -> str | None:
    with services.store.read() as cur:
        row = cur.execute("SELECT kind FROM alert_channels WHERE id = ? AND enabled", [channel_id]).fetchone()
    return row[0] if row else None


def send_test(services: Services, actor: Actor, name: str) -> senders.Result:
    """Send a test message to the channel named `name` now, outside the outbox (admins; audited)."""
    require_admin(actor, "send test alerts")
    channel = channels.by_name(services.store, name)
    if channel is None:
        raise InvalidInput(f"There is no alert channel named {name!r}.")
    message = render.test_digest(channel.name, services.settings.public_url.rstrip("/") + "/alerts")
    settings = channels.config(services.store, services.box, channel.id)
    key = f"test-{uuid.uuid4()}"
    result = senders.send(channel.kind, settings, message, key=key, guard=guard_for(services))
    audit.record(
        services.store,
        actor=actor.email,
        action="alerts.channel_test",
        target=channel.name,
        outcome="ok" if result.ok else "failed",
        detail=result.answer,
    )
    return result


class Dispatcher:
    """The process's dispatcher thread."""

    def __init__(self, services: Callable[[], Services], poll_s: float = POLL_S) -> None:
        self._services = services
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pw-alerts", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            waiting = False
            try:
                services = self._services()
                run_once(services)
                waiting = digest.waiting(services.store)
            except Exception:  # keep delivering; the next pass tries again
                log.exception("Alerts: a dispatcher pass failed")
            self._wake.wait(min(self._poll_s, BUSY_POLL_S) if waiting else self._poll_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)


_lock = threading.Lock()
_running: Dispatcher | None = None


def start(services: Callable[[], Services], poll_s: float = POLL_S) -> Dispatcher:
    """Start the process's dispatcher, or return the one already running."""
    global _running
    with _lock:
        if _running is None or not _running.alive:
            _running = Dispatcher(services, poll_s)
            _running._thread.start()
        return _running


def wake() -> None:
    """Ask the running dispatcher for a pass now (a sync just ended); nothing when none runs."""
    with _lock:
        current = _running
    if current is not None:
        current.wake()


def stop() -> None:
    global _running
    with _lock:
        current, _running = _running, None
    if current is not None:
        current.stop()
