"""Faults with several processes on one PostgreSQL database (issue 18).

- A worker process (`python -m core.cli worker`) killed with SIGKILL in the middle of a partner's member write:
  PostgreSQL rolls its transaction back when the connection drops, the task reads `Not completed` once its
  lease runs out (noticed by another worker, not by the dead process), the data equals the last committed sync,
  and the second worker runs the next Check for updates.
- The PostgreSQL server restarting in the middle of a partner's member write: the task ends `Not completed`
  with a message that says the database connection was lost, nothing of that write is kept, and the same
  process's next sync completes (its connection pool reconnects).
- The PostgreSQL server stopped: a unit of work, opening the store, a CLI command and a page each give up
  within `PW_DATABASE_WAIT_S` (not the pool's 30 s) with a message that says the database cannot be reached,
  and the same store works again as soon as the server is back.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from core import cli
from core import services as core_services
from core.config.settings import Settings
from core.errors import UserError
from core.members import paging
from core.members.filters import MemberFilter
from core.services import Services
from core.store import postgres
from core.store.database import Store
from core.store.errors import ConnectionLost, DatabaseUnavailable
from core.sync import check_for_updates, member_write
from core.tasks import jobs
from tests.support import ROOT
from tests.support.backends import PgCluster, start_cluster
from tests.support.browser import start_app, stop_app
from tests.support.compare import content
from tests.support.crash import mid_write_child
from tests.support.onboarding import run_sync
from tests.support.pages import SHELL
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ADMIN_ACTOR, make_services
from tools import pgcluster, zygote

LEASE_S = 2  # PW_TASK_LEASE_S of the worker processes: a killed one's task is noticed within seconds
LATE_JOINER = "late.joiner@agency.example"

HOOKED_WORKER = mid_write_child("worker")  # waits to be killed in its first member write


def _add_late_joiner(sandbox) -> str:
    target = monitored_partners(sandbox)[0]
    control(sandbox, "members/add", bc_id=target.bc_id, user_email=LATE_JOINER, user_name="Late", user_role="ADMIN")
    return target.bc_id


def _late_joiners(svc: Services) -> int:
    return paging.count(svc.store, MemberFilter(search=LATE_JOINER))


class Workers:
    """`python -m core.cli worker` processes on the workspace's database; all killed at the end."""

    def __init__(self, svc: Services, tmp_path: Path) -> None:
        settings = svc.settings
        assert settings.database_url is not None
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PW_")} | {
            "PW_DATABASE_URL": settings.database_url,
            "PW_PROCESS_ROLE": "worker",
            "PW_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "PW_DATA_DIR": str(tmp_path / "worker-data"),
            "PW_SANDBOX_PORT": str(settings.sandbox_port),
            "PW_QPS": "1000",
            "PW_TASK_LEASE_S": str(LEASE_S),
        }
        self.started: list[subprocess.Popen | zygote.Forked] = []

    def start(self, *, hooked: bool = False) -> subprocess.Popen | zygote.Forked:
        args = ["-c", HOOKED_WORKER] if hooked else ["-m", "core.cli", "worker"]
        log = (self.tmp_path / f"worker-{len(self.started)}.log").open("w")
        child = zygote.popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE if hooked else log,
            stderr=log,
            text=True,
        )
        self.started.append(child)
        return child

    def name(self, number: int) -> str:
        """The runner name worker `number` logged when it started (it claims as that)."""
        path = self.tmp_path / f"worker-{number}.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"Worker (\S+) started", path.read_text(errors="replace"))
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"worker {number} never started:\n{path.read_text(errors='replace')}")

    def stop(self) -> None:
        for child in self.started:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)


@pytest.fixture
def pg_workspace(
    workspace_factory: Callable[..., Services], pg_cluster: PgCluster, tmp_path: Path
) -> Iterator[Services]:
    """The onboarded workspace moved into a fresh PostgreSQL database, opened as a web replica (it only queues)."""
    url = pg_cluster.fresh_database()
    try:
        yield workspace_factory(database_url=url, PW_PROCESS_ROLE="web")
    finally:
        pg_cluster.drop(url)


def _read_until_mid_write(child: subprocess.Popen | zygote.Forked, seconds: float = 60) -> None:
    assert child.stdout is not None
    deadline, line = time.monotonic() + seconds, ""
    while "MID-WRITE" not in line and time.monotonic() < deadline and child.poll() is None:
        line = child.stdout.readline()
    assert "MID-WRITE" in line, "the worker never reached its member write"


@pytest.mark.slow
def test_a_worker_killed_mid_write_leaves_its_task_not_completed_and_another_worker_runs_the_next(
    pg_workspace: Services, sandbox, tmp_path: Path
) -> None:
    svc = pg_workspace
    before = content(svc.store)
    _add_late_joiner(sandbox)
    workers = Workers(svc, tmp_path)
    try:
        killed = workers.start(hooked=True)
        first = check_for_updates.request(svc, actor=ADMIN_ACTOR)
        _read_until_mid_write(killed)
        os.kill(killed.pid, signal.SIGKILL)
        assert killed.wait(timeout=10) == -signal.SIGKILL
        assert jobs.status_of(svc.store, first) in jobs.CLAIMED  # nobody has noticed yet
        assert content(svc.store) == before  # the open transaction died with its connection

        workers.start()
        second_name = workers.name(1)
        assert svc.runner.wait(first, timeout=60) == jobs.NOT_COMPLETED
        task = jobs.list_tasks(svc.store).set_index("id").loc[first]
        assert task["error"] == jobs.LEASE_EXPIRED
        assert content(svc.store) == before
        assert _late_joiners(svc) == 0

        second = check_for_updates.request(svc, actor=ADMIN_ACTOR)
        assert second != first
        assert svc.runner.wait(second, timeout=60) == jobs.COMPLETED
        with svc.store.read() as cur:
            assert cur.execute("SELECT claimed_by FROM tasks WHERE id = ?", [second]).fetchone()[0] == second_name
        assert _late_joiners(svc) == 1
    finally:
        workers.stop()


@pytest.fixture
def own_cluster() -> Iterator[pgcluster.Cluster]:
    """A cluster of this test's own: it is restarted under the app, even crashed, and keeps every commit."""
    cluster = start_cluster(durable=True)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE pw")
        yield cluster
    finally:
        cluster.stop()


def test_a_lost_connection_is_connection_lost_with_nothing_kept_and_the_pool_reconnects(
    own_cluster: pgcluster.Cluster,
) -> None:
    store = Store(own_cluster.url("pw"))
    count = "SELECT count(*) FROM audit_log"
    try:
        with store.read() as cur:
            before = cur.execute(count).fetchone()
        with pytest.raises(ConnectionLost, match="nothing of it was saved"), store.write() as cur:
            cur.execute("INSERT INTO audit_log (actor, action, target, outcome) VALUES ('a', 'b', 'c', 'd')")
            own_cluster.restart()
            cur.execute("SELECT 1")
        with pytest.raises(psycopg.errors.UndefinedTable), store.read() as cur:  # other errors stay what they are
            cur.execute("SELECT * FROM no_such_table")
        with store.read() as cur:
            assert cur.execute(count).fetchone() == before
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("immediate", [False, True], ids=["fast-shutdown", "crash"])
def test_the_database_restarting_mid_write_ends_the_task_cleanly_and_the_app_recovers(
    own_cluster: pgcluster.Cluster,  # before workspace_factory: the services close while their server still runs
    workspace_factory: Callable[..., Services],
    sandbox,
    monkeypatch: pytest.MonkeyPatch,
    immediate: bool,
) -> None:
    svc = workspace_factory(database_url=own_cluster.url("pw"))  # role all: this process runs the task
    before = content(svc.store)
    target = _add_late_joiner(sandbox)
    mid_write, go_on = threading.Event(), threading.Event()
    real = member_write._insert_members

    def hooked(cur, rows) -> None:
        real(cur, rows)
        if rows.num_rows and not mid_write.is_set():
            mid_write.set()
            go_on.wait(30)

    monkeypatch.setattr(member_write, "_insert_members", hooked)
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR, partner_bc_id=target)
    try:
        assert mid_write.wait(60), "the sync never reached its member write"
        own_cluster.restart(immediate=immediate, down_s=0.5)
    finally:
        go_on.set()
    assert svc.runner.wait(task_id, timeout=60) == jobs.NOT_COMPLETED
    task = jobs.list_tasks(svc.store).set_index("id").loc[task_id]
    assert "database connection was lost" in task["error"], task["error"]
    assert "Unexpected error" not in task["error"]
    assert not jobs.any_active(svc.store)
    partner_jobs = list(jobs.list_jobs(svc.store, task_id)["status"])
    assert partner_jobs
    assert set(partner_jobs) <= set(jobs.ENDED)  # no job left Running either
    assert content(svc.store) == before
    assert _late_joiners(svc) == 0

    assert run_sync(svc, target)[1] == jobs.COMPLETED  # the pool reconnected
    assert _late_joiners(svc) == 1


WAIT_S = 2  # PW_DATABASE_WAIT_S of these tests
BOUND_S = WAIT_S + 3  # what a caller may wait at most: the wait, plus the time to fail the broken connection


def _fails_fast(action: Callable[[], object]) -> DatabaseUnavailable:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="cannot be reached") as caught:
        action()
    took = time.monotonic() - started
    assert took < BOUND_S, f"waited {took:.1f} s for a stopped server"
    assert isinstance(caught.value, UserError)
    return caught.value


def _select(store: Store) -> object:
    with store.read() as cur:
        return cur.execute("SELECT 1").fetchone()


def _insert(store: Store) -> None:
    with store.write() as cur:
        cur.execute("INSERT INTO audit_log (actor, action, target, outcome) VALUES ('a', 'b', 'c', 'd')")


def test_a_stopped_server_fails_each_call_within_the_wait_with_a_message_and_the_store_recovers(
    own_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    url = own_cluster.url("pw")
    store = Store(url, wait_s=WAIT_S)
    try:
        assert _select(store) == (1,)
        own_cluster.pause()
        for _ in range(2):  # the pooled connection the server closed, then no connection at all
            _fails_fast(lambda: _select(store))
            _fails_fast(lambda: _insert(store))
        _fails_fast(lambda: Store(url, wait_s=WAIT_S))
        env = {"PW_DATABASE_URL": url, "PW_DATABASE_WAIT_S": str(WAIT_S), "PW_DATA_DIR": str(tmp_path / "data")}
        settings = Settings.load(env=env, secrets_file=tmp_path / "absent.toml", root=tmp_path)
        err = io.StringIO()
        started = time.monotonic()
        assert cli.main(["migrate"], settings=settings, out=io.StringIO(), err=err) == cli.FAILED
        assert time.monotonic() - started < BOUND_S
        assert "The database cannot be reached (no connection within 2 s)" in err.getvalue()
        own_cluster.resume()
        deadline = time.monotonic() + 15
        while True:  # back within seconds: the pool does not wait out a backoff grown during the outage
            try:
                assert _select(store) == (1,)
                break
            except DatabaseUnavailable:
                assert time.monotonic() < deadline, "the store did not recover within 15 s of the server's return"
        _insert(store)
    finally:
        store.close()


def test_a_page_says_the_database_cannot_be_reached_and_works_again_when_it_is_back(
    own_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    svc = make_services(tmp_path, PW_DATABASE_URL=own_cluster.url("pw"), PW_DATABASE_WAIT_S=str(WAIT_S))
    try:
        assert not AppTest.from_file(SHELL, default_timeout=30).run().exception
        own_cluster.pause()
        started = time.monotonic()
        at = AppTest.from_file(SHELL, default_timeout=30).run()
        assert time.monotonic() - started < BOUND_S + 5  # the page's first read gives up; nothing else waits
        assert not at.exception
        assert any("The database cannot be reached" in e.value for e in at.error)
        own_cluster.resume()
        deadline = time.monotonic() + 15
        while True:
            at = AppTest.from_file(SHELL, default_timeout=30).run()
            if not at.error:
                break
            assert time.monotonic() < deadline, [e.value for e in at.error]
        assert not at.exception
        assert at.title[0].value == "Partners"
    finally:
        core_services.install(None)
        svc.close()


def test_a_pool_whose_connections_are_all_busy_is_not_an_outage(pg_cluster: PgCluster) -> None:
    """Every connection of the process in use by long reads (the server answers): a further read waits past the
    short wait for one to be given back, as it did before, instead of saying the database cannot be reached."""
    url = pg_cluster.fresh_database()
    store = Store(url, wait_s=1)
    release, holding = threading.Event(), threading.Semaphore(0)

    def hold() -> None:
        with store.read() as cur:
            cur.execute("SELECT 1")
            holding.release()
            release.wait(30)

    holders = [threading.Thread(target=hold) for _ in range(postgres.POOL_MAX)]
    try:
        for thread in holders:
            thread.start()
        for _ in holders:
            assert holding.acquire(timeout=30)
        threading.Timer(2.5, release.set).start()  # past the 1 s wait
        started = time.monotonic()
        assert _select(store) == (1,)
        assert time.monotonic() - started >= 2.0
    finally:
        release.set()
        for thread in holders:
            thread.join(30)
        store.close()
        pg_cluster.drop(url)


def test_the_running_app_and_the_cli_say_the_database_cannot_be_reached(
    own_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    """A `web` replica on a stopped server: its API answers 503 with the message within the wait (not a bare 500
    after 30 s), and a CLI command (configured with the same database) prints that message."""
    token = "a-token-of-16-or-more-characters"
    env = {
        "PW_DATABASE_URL": own_cluster.url("pw"),
        "PW_DATABASE_WAIT_S": str(WAIT_S),
        "PW_PROCESS_ROLE": "web",
        "PW_API_TOKEN": token,
    }
    app = start_app(tmp_path, **env)
    try:
        own_cluster.pause()
        started = time.monotonic()
        answer = httpx.get(f"{app.url}/api/tasks/1", headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert time.monotonic() - started < BOUND_S + 2
        assert answer.status_code == 503
        assert "The database cannot be reached (no connection within 2 s)" in answer.text
        cli_env = env | {"PW_APP_URL": app.url, "PW_DATA_DIR": str(tmp_path / "cli")}
        del cli_env["PW_PROCESS_ROLE"]
        settings = Settings.load(env=cli_env, secrets_file=tmp_path / "absent.toml", root=tmp_path)
        err = io.StringIO()
        started = time.monotonic()
        assert cli.main(["alerts", "retry-dead"], settings=settings, out=io.StringIO(), err=err) == cli.FAILED
        assert time.monotonic() - started < BOUND_S + 3  # its look for the app, then its own wait
        assert "The database cannot be reached (no connection within 2 s)" in err.getvalue()
    finally:
        stop_app(app)
