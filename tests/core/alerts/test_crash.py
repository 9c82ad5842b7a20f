"""The app SIGKILLed with alerts in the outbox: after the restart every digest is delivered, and the only
one the receiver sees twice is the one in flight at the kill, with the same idempotency key both times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from core import services as core_services
from core.alerts import outbox, triggers
from tests.support.alerts import deliver_all, webhook
from tests.support.services import make_services
from tools import zygote

ROOT = Path(__file__).resolve().parents[3]


def test_sigkill_with_alerts_in_the_outbox(tmp_path, receiver):
    svc = make_services(tmp_path, PW_ALERTS_BACKOFF_S="0.05")
    webhook(svc, receiver)
    with svc.store.write() as cur:
        for task_id in (901, 902, 903):  # three finished syncs: three digests for the channel
            outbox.record(
                cur, triggers.TASK_NOT_COMPLETED, task_id=task_id, partner_bc_id=None, subject=f"sync {task_id}"
            )
    core_services.install(None)
    svc.close()

    receiver.hold_s = 30.0  # the first digest is received, but not answered before the kill
    child = zygote.popen(
        [sys.executable, str(Path(__file__).with_name("dispatch_child.py")), str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    try:
        receiver.wait_for(1, timeout=60)
        assert len(receiver.received) == 1
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL

    svc = make_services(tmp_path, PW_ALERTS_BACKOFF_S="0.05")
    try:
        assert outbox.counts(svc.store) == {outbox.PENDING: 3}  # nothing was marked delivered unanswered
        deliver_all(svc)
        assert outbox.counts(svc.store) == {outbox.DELIVERED: 3}
        with svc.store.read() as cur:
            keys = [r[0] for r in cur.execute("SELECT idempotency_key FROM alert_deliveries ORDER BY id").fetchall()]
        seen = Counter(r.headers["idempotency-key"] for r in receiver.wait_for(4))
        assert set(seen) == set(keys)
        assert seen[keys[0]] == 2
        assert seen[keys[1]] == seen[keys[2]] == 1
        subjects = [r.json["items"][0]["subject"] for r in receiver.received]
        assert subjects == ["sync 901", "sync 901", "sync 902", "sync 903"]
    finally:
        core_services.install(None)
        svc.close()
