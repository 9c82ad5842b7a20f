"""app_start: `make run` until `/healthz` answers 200, with the embedded sandbox (target < 5 s).

Each run starts `make run` on free ports with a fresh data directory (so the sandbox key is made too), polls
`GET /healthz` every 20 ms, then stops the process group it started. The database is a copy of the
members_query database of n members (made once per size; the app opens it, checks its migrations and starts
warming the Members columns in the background), and once per size a fresh database (migrations applied from
nothing: `fresh_db_s`, the headline of the rounds before the cost curve). The headline is the median of the
runs over the 1M-member database; the first run also pays cold file caches after an install.

Cost curve: 100k, 1M and 5M members in the database, the cost being the median seconds to /healthz.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import httpx

from benchmarks.common import ROOT, load_average
from benchmarks.curves import Curve
from benchmarks.members_query import DATABASE_SIZES, database_of

NAME = "app_start"
TARGET_S = 5.0
RUNS, SMALL_RUNS, SMALL = 5, 1, 10_000  # starts per size (one below SMALL members: the smoke test's sizes)
CURVE = Curve("members", **DATABASE_SIZES, costs=("value",))
TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_once(database: str | None = None) -> float:
    """Seconds from `make run` to a 200 from /healthz, on `database` (a path) or on a fresh one."""
    port, sandbox_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory(prefix="pw-bench-start-") as tmp:
        env = {**os.environ, "PW_DB_PATH": database or f"{tmp}/pw.duckdb", "PW_DATA_DIR": f"{tmp}/data"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}", f"SANDBOX_PORT={sandbox_port}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", t0)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_healthy(proc: subprocess.Popen, url: str, t0: float) -> float:
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() - t0 < TIMEOUT_S:
            if proc.poll() is not None:
                raise RuntimeError(f"make run exited with {proc.returncode} before /healthz answered")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise RuntimeError(f"/healthz did not answer within {TIMEOUT_S:g} s")


def run_at(members: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="pw-bench-start-db-") as tmp:
        path = f"{tmp}/pw.duckdb"
        shutil.copyfile(database_of(members), path)
        times = [start_once(path) for _ in range(RUNS if members >= SMALL else SMALL_RUNS)]
    fresh = start_once()
    median = statistics.median(times)
    return {
        "value": round(median, 3),
        "unit": "s",
        "target": TARGET_S,
        "met": median < TARGET_S,
        "members": members,
        "fresh_db_s": round(fresh, 3),
        "runs": len(times),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "load_average_1m": load_average(),
    }
