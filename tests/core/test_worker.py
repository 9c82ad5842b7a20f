"""The worker process (`python -m core.cli worker`): starts, logs, stops cleanly on SIGTERM; refuses a process
role that is not its own or a database it cannot share; a stop gives the tasks in flight their grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import cli, worker
from core.config.settings import Settings
from core.store.database import Store
from core.sync import schedule
from core.tasks import jobs
from core.tasks.jobs import Counts
from tests.support import ROOT
from tools import zygote


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PW_DB_PATH": str(tmp_path / "pw.duckdb"),
        "PW_DATA_DIR": str(tmp_path / "data"),
        "PW_SANDBOX_PORT": "9",  # TikTok unreachable: nothing here needs it
        **extra,
    }


def _read_until(stream, text: str, seconds: float) -> str:
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} never appeared in the worker's log:\n{''.join(seen)}")


def test_the_worker_starts_logs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PW_")} | _env(tmp_path)
    child = zygote.popen(
        [sys.executable, "-m", "core.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stderr is not None
        started = _read_until(child.stderr, "started (role all)", 60)
        assert "claims Check for updates tasks" in started
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
        log = child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
    assert "stopping (SIGTERM)" in log
    assert "stopped" in log
    assert not Path(env["PW_DB_PATH"] + ".wal").exists()  # checkpointed and closed
    store = Store(env["PW_DB_PATH"])  # and the file is free for the next process
    store.close()


@pytest.mark.parametrize(
    ("role", "named"),
    [("worker", "PW_PROCESS_ROLE=worker needs PW_DATABASE_URL"), ("web", "a web replica runs no jobs")],
)
def test_a_worker_role_without_a_shared_database_or_a_web_role_is_refused(tmp_path, capsys, role, named):
    settings = Settings.load(env=_env(tmp_path, PW_PROCESS_ROLE=role), root=tmp_path)
    assert cli.main(["worker"], settings=settings) == cli.USAGE
    err = capsys.readouterr().err
    assert "PartnerWatch cannot start" in err
    assert named in err
    assert not (tmp_path / "pw.duckdb").exists()  # refused before opening anything


def test_a_stop_lets_tasks_in_flight_finish_within_the_grace_and_ends_the_rest(svc) -> None:
    started = threading.Semaphore(0)
    releases = {"quick": threading.Event(), "stuck": threading.Event()}

    def work(ctx: jobs.TaskContext) -> Counts:
        started.release()
        releases[ctx.task.kind].wait(10)
        return Counts()

    ids = {}
    for kind in releases:
        svc.runner.handle(kind, work)
        ids[kind] = svc.runner.enqueue(jobs.Request(kind, "t", "me", jobs.TRIGGER_CLI)).task_id
    assert started.acquire(timeout=10)
    assert started.acquire(timeout=10)
    stopping = threading.Event()
    process = threading.Thread(target=worker.run_worker, args=(svc, stopping), kwargs={"grace_s": 2.0})
    process.start()
    stopping.set()
    releases["quick"].set()  # ends within the grace
    process.join(30)
    assert not process.is_alive()
    releases["stuck"].set()
    reopened = Store(svc.settings.db_path)
    try:
        assert jobs.status_of(reopened, ids["quick"]) == jobs.COMPLETED
        assert jobs.status_of(reopened, ids["stuck"]) == jobs.NOT_COMPLETED
    finally:
        reopened.close()
    assert schedule._running is None  # the scheduler thread is gone
