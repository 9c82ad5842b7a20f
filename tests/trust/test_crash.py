"""Crash: a `python -m core.cli sync` process killed with SIGKILL in the middle of a member write. On restart
the database opens, the task reads `Not completed`, the data equals the last committed sync, and the next
sync completes. A runner that stops renewing its lease (a worker killed beside others on a shared database)
leaves its task Not completed once the lease runs out, and the next task runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from core.members import paging
from core.members.filters import MemberFilter
from core.tasks import jobs
from core.tasks.runner import JobRunner
from tests.support import ROOT
from tests.support.compare import content
from tests.support.crash import mid_write_child
from tests.support.onboarding import fast_retries, run_sync
from tests.support.sandbox import control, monitored_partners
from tests.support.services import make_services
from tools import zygote

CHILD = mid_write_child("sync")  # the CLI's sync, waiting to be killed in its first member write


@pytest.mark.slow
def test_sigkill_mid_write_leaves_the_last_committed_sync(workspace_factory, sandbox, tmp_path):
    svc = workspace_factory()
    before = content(svc.store)
    target = monitored_partners(sandbox)[0]
    control(
        sandbox,
        "members/add",
        bc_id=target.bc_id,
        user_email="late.joiner@agency.example",
        user_name="Late Joiner",
        user_role="ADMIN",
    )
    settings = svc.settings
    svc.close()  # the app is stopped: the CLI opens the database itself

    env = {
        **os.environ,
        "PW_DB_PATH": str(settings.db_path),
        "PW_DATA_DIR": str(settings.data_dir),
        "PW_SANDBOX_PORT": str(settings.sandbox_port),
        "PW_QPS": "1000",
        "PW_PUBLIC_URL": "http://127.0.0.1:9",
    }
    child = zygote.popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while "MID-WRITE" not in line and time.monotonic() < deadline and child.poll() is None:
            line = child.stdout.readline()
        assert "MID-WRITE" in line, "the sync never reached its member write"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()

    restarted = make_services(tmp_path, sandbox, PW_QPS="1000")  # opens the file, replays the log
    fast_retries(restarted)
    try:
        task = jobs.list_tasks(restarted.store).iloc[0]
        assert task["status"] == jobs.NOT_COMPLETED
        assert task["trigger"] == jobs.TRIGGER_CLI
        assert "Interrupted" in task["error"]
        assert not jobs.any_active(restarted.store)
        assert content(restarted.store) == before
        search = MemberFilter(search="late.joiner@agency.example")
        assert paging.count(restarted.store, search) == 0
        assert run_sync(restarted)[1] == jobs.COMPLETED
        assert paging.count(restarted.store, search) == 1
    finally:
        restarted.close()


def test_a_runner_that_stops_renewing_its_lease_leaves_its_task_not_completed_and_the_next_one_runs(store, monkeypatch):
    """A worker killed mid-task (SIGKILL: simulated by freezing its runner's loop, so no heartbeat, no claims)
    holds the Check for updates dedupe key only until its lease runs out; then another runner ends the task
    Not completed, a new request is a new task, and it runs. The frozen runner's late writes are not kept."""
    lease_s = 0.6
    killed, alive = (JobRunner(store, lease_s=lease_s, poll_s=0.05) for _ in range(2))
    started, release = threading.Event(), threading.Event()

    def stuck(ctx: jobs.TaskContext) -> jobs.Counts:
        started.set()
        release.wait(30)
        ctx.advance()  # the process "comes back": nothing it writes about the task is kept
        return jobs.Counts(added=99)

    def request() -> int:
        sync = jobs.Request("Check for updates", "All partners", "me", "Manual", dedupe_key="sync")
        return killed.enqueue(sync).task_id

    try:
        killed.handle("Check for updates", stuck)
        first = request()
        assert started.wait(30)
        monkeypatch.setattr(killed, "_beat", lambda: None)  # no heartbeat, no claims, no expiry from here on
        alive.handle("Check for updates", lambda ctx: jobs.Counts(added=1))
        assert request() == first  # the lease still holds: joined
        assert alive.wait(first, timeout=30) == jobs.NOT_COMPLETED  # ended by the other runner's beat
        task = jobs.list_tasks(store).set_index("id").loc[first]
        assert task["error"] == jobs.LEASE_EXPIRED
        second = request()
        assert second != first
        assert alive.wait(second, timeout=30) == jobs.COMPLETED
        with store.read() as cur:
            assert cur.execute("SELECT claimed_by FROM tasks WHERE id = ?", [second]).fetchone()[0] == alive.name
        release.set()
        time.sleep(0.3)  # the frozen runner's work returns and tries to record its end
        task = jobs.list_tasks(store).set_index("id").loc[first]
        assert (task["status"], task["added"]) == (jobs.NOT_COMPLETED, 0)
    finally:
        release.set()
        alive.shutdown(grace_s=10)
        killed.shutdown(grace_s=10)
