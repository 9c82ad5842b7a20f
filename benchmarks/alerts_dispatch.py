"""alerts_dispatch: issue 15's figures for the alert outbox and its dispatcher.

Headline: seconds from the end of a sync that changed 10,000 members to the digest's arrival at a local
receiver (target < 2 s). The sync's write path (`group_commit.write_snapshot`) adds 10,000 guest users to a
partner with a baseline, writing 10,000 `new_guest` events in the same transaction; the sync's end is what
Check for updates does last: `dispatcher.wake()`. The clock stops when the receiver has read the POST. The
dispatcher is the app's own thread (`dispatcher.start`, default poll), so the figure includes digesting the
10,000 events, rendering, signing and sending. Median of `RUNS` syncs (a new partner each).

Also: the dispatcher's CPU seconds per 1,000 queued alerts: 1,000 events of 1,000 finished tasks, so 1,000
deliveries (digest rows, each signed and POSTed on its own), sent by `dispatcher.run_once` until none is
pending; the process's CPU time (DuckDB's threads included). The receiver runs in a child process
(`python -m benchmarks.alerts_dispatch --receive`), so its work is not counted and it does not compete for
this process's GIL. The issue sets no bound for it, so it carries no `met`.

Cost curve: 2,000, 10,000 and 50,000 member changes in the sync (one alert per change, one digest), the cost
being the median seconds from the sync's end to the digest's arrival; the queued deliveries are a tenth of
the changes, at most 1,000.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks import datagen
from benchmarks.common import PYTHON, ROOT, load_average
from benchmarks.curves import Curve
from core import services as core_services
from core.alerts import channels, digest, dispatcher, outbox, rules, triggers
from core.services import Services
from core.sync import group_commit
from tests.support.services import ADMIN_ACTOR, make_services

NAME = "alerts_dispatch"
TARGET_S = 2.0
CURVE = Curve(
    "member changes",
    full=(2_000, 10_000, 50_000),
    quick=(500, 2_000, 5_000),
    tiny=(50, 100, 200),
    costs=("value",),
)
RUNS, SMALL_RUNS, SMALL = 3, 1, 1_000  # syncs per size (one below SMALL changes: the smoke test's sizes)
QUEUED_MAX = 1_000


class _Receiver:
    """The child-process receiver: each POST's arrival time (time.time()) and size, one line each."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "benchmarks.alerts_dispatch", "--receive"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._line(30).strip()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self._lines.put(line)

    def _line(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the receiver sent nothing within {timeout:.0f} s") from None

    def arrivals(self, n: int, timeout: float = 120) -> list[float]:
        deadline = time.monotonic() + timeout
        return [float(self._line(max(0.1, deadline - time.monotonic())).split()[0]) for _ in range(n)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _receive() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            self.send_response(200)
            self.end_headers()
            print(f"{arrived:.6f} {len(body)}", flush=True)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}/hook", flush=True)
    server.serve_forever()


def _setup(svc: Services, url: str) -> None:
    guard = dispatcher.guard_for(svc)
    channels.create(svc.store, svc.box, guard, ADMIN_ACTOR, name="bench", kind=channels.WEBHOOK, settings={"url": url})
    rule = next(r for r in rules.all_rules(svc.store) if r.trigger == triggers.NEW_GUEST)  # off by default
    rules.save(svc.store, ADMIN_ACTOR, trigger=rule.trigger, enabled=True, rule_id=rule.id)


def _sync_to_arrival(svc: Services, receiver: _Receiver, run: int, changes: int) -> float:
    bc_id = f"70000000000000{run:05d}"
    group_commit.write_snapshot(svc.store, datagen.plain_snapshot(bc_id, 1), "Agency", 1000 * run + 1)  # the baseline
    group_commit.write_snapshot(svc.store, datagen.plain_snapshot(bc_id, changes + 1), "Agency", 1000 * run + 2)
    ended = time.time()  # the sync's writes are committed; Check for updates now ends its task and wakes
    dispatcher.wake()
    (arrived,) = receiver.arrivals(1)
    return arrived - ended


def _cpu_per_queued(svc: Services, receiver: _Receiver, queued: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to send `queued` deliveries, scaled to 1,000."""
    with svc.store.write() as cur:
        for i in range(queued):
            outbox.record(cur, triggers.NEW_PARTNER, task_id=900_000 + i, partner_bc_id=None, subject=f"Agency {i}")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while outbox.counts(svc.store).get(outbox.PENDING) or digest.waiting(svc.store):
        if not dispatcher.run_once(svc):
            raise RuntimeError(f"the dispatcher sent nothing; outbox: {outbox.counts(svc.store)}")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    receiver.arrivals(queued)
    return cpu * 1000 / queued, wall * 1000 / queued


def run_at(changes: int) -> dict[str, object]:
    queued = max(5, min(QUEUED_MAX, changes // 10))
    runs = RUNS if changes >= SMALL else SMALL_RUNS
    receiver = _Receiver()
    try:
        with tempfile.TemporaryDirectory(prefix="pw-bench-alerts-") as tmp:
            svc = make_services(Path(tmp) / "latency")
            _setup(svc, receiver.url)
            dispatcher.start(core_services.get)
            try:
                latencies = [_sync_to_arrival(svc, receiver, run, changes) for run in range(1, runs + 1)]
            finally:
                dispatcher.stop()
                core_services.install(None)
                svc.close()
            svc = make_services(Path(tmp) / "cpu")
            _setup(svc, receiver.url)
            rule = next(r for r in rules.all_rules(svc.store) if r.trigger == triggers.NEW_PARTNER)
            rules.save(svc.store, ADMIN_ACTOR, trigger=rule.trigger, enabled=True, rule_id=rule.id)
            try:
                cpu_s, wall_s = _cpu_per_queued(svc, receiver, queued)
            finally:
                core_services.install(None)
                svc.close()
    finally:
        receiver.stop()
    median = statistics.median(latencies)
    return {
        "value": round(median, 3),
        "unit": "s",
        "target": TARGET_S,
        "met": median < TARGET_S,
        "member_changes": changes,
        "runs_s": [round(x, 3) for x in latencies],
        "queued_alerts": queued,
        "cpu_s_per_1000_alerts": round(cpu_s, 3),
        "wall_s_per_1000_alerts": round(wall_s, 3),
        "load_average": load_average(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.alerts_dispatch")
    parser.add_argument("--receive", action="store_true", help="serve the child-process receiver")
    if parser.parse_args().receive:
        _receive()
    else:
        sys.exit("run it through `python -m benchmarks --only alerts_dispatch`")
