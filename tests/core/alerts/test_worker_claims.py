"""Several worker processes dispatching alerts from one PostgreSQL database (issue 18): each delivery is sent
exactly once while they live; a worker SIGKILLed mid-send leaves its delivery claimed until the lease runs
out, then another worker sends it again with the same idempotency key (at least once on a crash). Also the
claim itself on both stores, and two processes digesting the same events at once."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from core import services as core_services
from core.alerts import digest, outbox, triggers
from core.security.crypto import SecretBox
from core.services import Services
from tests.support.alerts import webhook
from tests.support.backends import PgCluster
from tests.support.receivers import HttpReceiver
from tests.support.replicas import Worker, start_worker, stop_worker
from tests.support.services import ADMIN_ACTOR, make_services

TASKS = (901, 902, 903, 904, 905, 906)


@pytest.fixture
def shared(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[tuple[Services, dict[str, str]]]:
    """Services of the test on a fresh PostgreSQL database, and the environment of worker processes on it."""
    url = pg_cluster.fresh_database()
    env = {
        "PW_DATABASE_URL": url,
        "PW_ENCRYPTION_KEYS": SecretBox.generate_key(),
        "PW_SANDBOX_PORT": "9",
        "PW_SANDBOX_EXTERNAL": "1",
        "PW_ALERTS_BACKOFF_S": "0.05",
    }
    svc = make_services(tmp_path, **env)
    try:
        yield svc, env
    finally:
        core_services.install(None)
        svc.close()
        pg_cluster.drop(url)


@contextlib.contextmanager
def workers(tmp_path: Path, env: dict[str, str], n: int, **extra: str) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for i in range(n):
            home = tmp_path / f"worker{i}"
            home.mkdir()
            worker_env = env | {"PW_PROCESS_ROLE": "worker", "PW_DATA_DIR": str(home / "data"), **extra}
            started.append(start_worker(home, worker_env))
        yield started
    finally:
        for worker in started:
            if worker.process.poll() is None:
                stop_worker(worker)


def record_events(svc: Services, task_ids: tuple[int, ...] = TASKS) -> None:
    """One event per finished task, in one transaction: both workers see them at the same moment."""
    with svc.store.write() as cur:
        for task_id in task_ids:
            outbox.record(
                cur, triggers.TASK_NOT_COMPLETED, task_id=task_id, partner_bc_id=None, subject=f"sync {task_id}"
            )


def wait_delivered(svc: Services, n: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.counts(svc.store) == {outbox.DELIVERED: n}:
            return
        time.sleep(0.1)
    raise AssertionError(f"not all delivered within {timeout} s: {outbox.counts(svc.store)}")


def keys(svc: Services) -> list[str]:
    with svc.store.read() as cur:
        return [r[0] for r in cur.execute("SELECT idempotency_key FROM alert_deliveries ORDER BY id").fetchall()]


def test_two_workers_send_each_delivery_exactly_once(shared, tmp_path, receiver):
    svc, env = shared
    webhook(svc, receiver)
    receiver.delay_s = 0.4  # each send takes a while: both workers' passes overlap many times
    with workers(tmp_path, env, 2) as started:
        record_events(svc)
        wait_delivered(svc, len(TASKS))
        time.sleep(1.5)  # a duplicate would still be arriving: give it the time of a dispatcher pass
        assert all(w.process.poll() is None for w in started)
    seen = Counter(r.headers["idempotency-key"] for r in receiver.received)
    assert sorted(seen.values()) == [1] * len(TASKS), f"digests sent more than once: {seen}"
    assert set(seen) == set(keys(svc))  # one digest per task: no event was digested twice
    assert [r.json["items"][0]["subject"] for r in receiver.received] == [f"sync {t}" for t in TASKS]  # in order
    with svc.store.read() as cur:
        claimers = {r[0] for r in cur.execute("SELECT claimed_by FROM alert_deliveries").fetchall()}
    assert claimers == {None}  # settled deliveries hold no claim


def test_a_worker_killed_mid_send_loses_nothing_and_another_sends_it_after_its_lease(shared, tmp_path, receiver):
    svc, env = shared
    webhook(svc, receiver)
    receiver.hold_s = 60.0  # the first digest is received, never answered before its sender is killed
    with workers(tmp_path, env, 2, PW_ALERTS_LEASE_S="8") as started:
        record_events(svc, TASKS[:3])
        receiver.wait_for(1, timeout=30)
        time.sleep(3)  # both workers passed several times: neither sent the held digest again, nor the next ones
        assert len(receiver.received) == 1
        with svc.store.read() as cur:
            (claimer,) = cur.execute("SELECT claimed_by FROM alert_deliveries WHERE claimed_by IS NOT NULL").fetchone()
        pid = int(claimer.split("/")[1])
        (sender,) = [w for w in started if w.process.pid == pid]
        os.kill(pid, signal.SIGKILL)
        sender.process.wait(10)
        killed_at = time.monotonic()
        wait_delivered(svc, 3)
        assert time.monotonic() - killed_at < 30
    expected = keys(svc)
    seen = Counter(r.headers["idempotency-key"] for r in receiver.received)
    assert seen == {expected[0]: 2, expected[1]: 1, expected[2]: 1}  # the one in flight again, same key
    subjects = [r.json["items"][0]["subject"] for r in receiver.received]
    assert subjects == ["sync 901", "sync 901", "sync 902", "sync 903"]


# -- the claim and the digest, in one process ---------------------------------------------------------------


def _deliveries(svc: Services, receiver: HttpReceiver, channels: int = 1) -> list[int]:
    for n in range(channels):
        webhook(svc, receiver, name=f"hook-{n}")
    record_events(svc, TASKS[:2])
    digest.make_deliveries(svc.store, public_url="http://x", now=datetime.now(UTC))
    with svc.store.read() as cur:
        return [r[0] for r in cur.execute("SELECT id FROM alert_deliveries ORDER BY id").fetchall()]


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(svc, receiver, backend):
    ids = _deliveries(svc, receiver, channels=2)  # two tasks x two channels
    now = datetime.now(UTC)
    first = outbox.claim(svc.store, now, lease_s=60, by="worker-a")
    second = outbox.claim(svc.store, now, lease_s=60, by="worker-a")
    assert first is not None
    assert second is not None
    assert {first.id, second.id} == set(ids[:2])  # each channel's oldest; the next ones wait for them (order)
    assert outbox.claim(svc.store, now, lease_s=60, by="worker-a") is None
    other = outbox.claim(svc.store, now, lease_s=60, by="worker-b")
    if backend.name == "postgresql":
        assert other is None  # held by worker-a for its lease
    else:
        assert other is not None  # one process per DuckDB file: another claimer's claim was left by a dead one
    later = now + timedelta(seconds=61)
    assert outbox.claim(svc.store, later, lease_s=60, by="worker-c") is not None  # worker-a's lease ran out


def test_a_failed_attempt_settles_only_for_the_claimer_that_still_holds_it(svc, receiver, backend):
    (delivery_id,) = _deliveries(svc, receiver)[:1]
    now = datetime.now(UTC)
    assert outbox.claim(svc.store, now, lease_s=1, by="worker-a") is not None
    later = now + timedelta(seconds=2)
    assert outbox.claim(svc.store, later, lease_s=60, by="worker-b") is not None  # a's claim lapsed
    outbox.mark_failed(
        svc.store, delivery_id, error="late", status=None, retry_at=later, dead=False, now=later, by="worker-a"
    )
    with svc.store.read() as cur:
        row = cur.execute("SELECT claimed_by, attempts FROM alert_deliveries WHERE id = ?", [delivery_id]).fetchone()
    assert row == ("worker-b", 0)  # worker-a's stale failure did not take the delivery from worker-b


def test_deliveries_list_a_delivery_being_sent_as_sending_until_its_claim_lapses(svc, receiver, backend):
    held, waiting = _deliveries(svc, receiver)[:2]
    now = datetime.now(UTC)
    assert outbox.claim(svc.store, now, lease_s=300, by="host/1") is not None
    listed = outbox.listing(svc.store, ADMIN_ACTOR).set_index("id")
    assert listed.loc[held, "status"] == outbox.SENDING
    assert listed.loc[waiting, "status"] == outbox.PENDING
    assert list(outbox.listing(svc.store, ADMIN_ACTOR, status=outbox.SENDING)["id"]) == [held]
    assert list(outbox.listing(svc.store, ADMIN_ACTOR, status=outbox.PENDING)["id"]) == [waiting]
    with svc.store.write() as cur:  # its sender died: the claim lapsed, and the delivery waits again
        cur.execute("UPDATE alert_deliveries SET claimed_until = ? WHERE id = ?", [now - timedelta(seconds=1), held])
    assert set(outbox.listing(svc.store, ADMIN_ACTOR)["status"]) == {outbox.PENDING}
    assert outbox.STATUS_LABELS[outbox.SENDING] == "Sending"


def test_two_processes_digesting_at_once_make_each_digest_once(shared, receiver):
    """Another process is in the middle of digesting the same events (a raw connection stands in for it, holding
    the events' row locks as its `make_deliveries` does, then committing its digest): this process's pass
    leaves those events to it instead of making a second digest of them."""
    svc, env = shared
    channel = webhook(svc, receiver)
    record_events(svc, TASKS[:1])
    made: list[int] = []
    with psycopg.connect(env["PW_DATABASE_URL"]) as other:
        events = [r[0] for r in other.execute("SELECT id FROM alert_events ORDER BY id FOR UPDATE").fetchall()]
        assert len(events) == 1
        ours = threading.Thread(
            target=lambda: made.append(digest.make_deliveries(svc.store, public_url="http://x", now=datetime.now(UTC)))
        )
        ours.start()
        ours.join(1.0)  # before the fix it waits here for the locks, its own digest already inserted
        other.execute(
            """INSERT INTO alert_deliveries (channel_id, task_id, idempotency_key, payload, status,
                   next_attempt_at, created_at, updated_at)
               VALUES (%s, 901, 'the-other-process', '{}', 'pending', now(), now(), now())""",
            [channel],
        )
        other.execute("UPDATE alert_events SET digested_at = now() WHERE id = ANY(%s)", [events])
        other.commit()
        ours.join(30)
    assert not ours.is_alive()
    assert made == [0]
    assert keys(svc) == ["the-other-process"]
