"""tools/pgcluster.py: the throwaway cluster answers on 127.0.0.1, runs as a non-root user, and dies with the
process that started it, even when that process is SIGKILLed (the watchdog), leaving no directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.support.backends import unavailable
from tools import pgcluster

ROOT = Path(__file__).resolve().parents[2]

_STARTER = """
import sys, time
from tools.pgcluster import Cluster
cluster = Cluster().start()
print(cluster.url(), cluster.process.pid, cluster.directory, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_the_cluster_dies_with_the_process_that_started_it() -> None:
    if not pgcluster.available():
        unavailable(f"no binaries in {pgcluster.PG_BIN}")
    starter = subprocess.Popen([sys.executable, "-c", _STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert starter.stdout is not None
    url, pid, directory = starter.stdout.readline().split()
    with psycopg.connect(url) as conn:
        user = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()
    assert user == ("postgres", "127.0.0.1/32")
    assert Path(f"/proc/{pid}").stat().st_uid != 0  # PostgreSQL refuses root: it runs as another user
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    deadline = time.monotonic() + 30
    while (_alive(int(pid)) or Path(directory).exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(int(pid))
    assert not Path(directory).exists()


def test_a_restart_keeps_the_data_and_the_port_and_ends_the_open_sessions() -> None:
    if not pgcluster.available():
        unavailable(f"no binaries in {pgcluster.PG_BIN}")
    with pgcluster.Cluster() as cluster:
        assert cluster.process is not None
        first_pid = cluster.process.pid
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (n int)")
            conn.execute("INSERT INTO kept VALUES (1)")
        session = psycopg.connect(cluster.url())
        session.execute("INSERT INTO kept VALUES (2)")  # open transaction, never committed
        cluster.restart(down_s=0.2)
        assert cluster.process.pid != first_pid
        assert cluster.watchdog is not None
        assert cluster.watchdog.poll() is None  # the new server is guarded too
        assert _fails(session)  # its transaction ended with the old server
        session.close()
        with psycopg.connect(cluster.url()) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(1,)]
        directory = cluster.directory
    assert not directory.exists()


def _fails(session: psycopg.Connection) -> bool:
    try:
        session.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False
