"""A web replica killed mid-request loses no committed data (issue 18).

Two web replicas (`streamlit run`, PW_PROCESS_ROLE=web) and one worker on one fresh PostgreSQL database, with the
same encryption key and API token. Through the CLI's HTTP API (`POST /api/sync`, `GET /api/tasks/{id}`,
`GET /api/export/members.csv`) a Check for updates is requested on replica A and runs to its end on the worker
(`Not completed`: no partner is connected, which is beside the point here); then a burst of concurrent requests,
reads and exports is in flight on A when A gets SIGKILL. Afterwards:

- every request A answered with success is in the database (its task row and its `sync.request` audit row; for
  each CSV export received whole, its `export.members` audit row);
- nothing is half-written: every task has its required fields, every CLI task has the audit row that says who
  queued it, the dedupe key is held only by an active task, and every task ends (the worker runs what A queued);
- replica B keeps serving, reports the same tasks, and queues a Check for updates that the worker runs to the
  same end as the one before the kill;
- a replica started afterwards on the same database starts cleanly: no migration is applied again and no
  advisory lock is left behind.

The task row and its audit row are one transaction: a replica that dies between the two keeps neither (shown
in-process by an audit write that fails, as the window between two commits is too short to hit with a kill).
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from core.cli.remote import API_SYNC
from core.members.export import EXPORT_PATH
from core.security import audit
from core.security.crypto import SecretBox
from core.services import Services
from core.sync import check_for_updates
from core.tasks import jobs
from sandbox.server import SandboxConfig, SandboxServer
from tests.support.backends import PgCluster
from tests.support.browser import RunningApp, start_app, stop_app
from tests.support.replicas import Worker, start_worker, stop_worker
from tests.support.services import ADMIN_ACTOR

BURST_THREADS = 6
ANSWERED_BEFORE_KILL = 12  # successful answers from A during the burst before it is killed
REQUIRED = ("kind", "target", "actor", "trigger", "status", "params", "created_at", "updated_at")


@dataclass
class Deployment:
    root: Path
    env: dict[str, str]
    database_url: str
    a: RunningApp
    b: RunningApp
    worker: Worker
    stack: contextlib.ExitStack

    def replica(self, label: str) -> RunningApp:
        (self.root / label).mkdir()
        app = start_app(self.root / label, **self.env)
        self.stack.callback(stop_app, app)
        return app

    def rows(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture
def deployment(pg_cluster: PgCluster, tmp_path: Path) -> Iterator[Deployment]:
    database_url = pg_cluster.fresh_database()
    with contextlib.ExitStack() as stack:  # everything started is stopped, even when a later start fails
        stack.callback(pg_cluster.drop, database_url)
        sandbox = SandboxServer(SandboxConfig(seed=3, partners=2, members=5, qps=1000, qpm=100_000)).start()
        stack.callback(sandbox.stop)
        env = {
            "PW_DATABASE_URL": database_url,
            "PW_ENCRYPTION_KEYS": SecretBox.generate_key(),
            "PW_API_TOKEN": secrets.token_urlsafe(24),
            "PW_SANDBOX_PORT": str(sandbox.port),
            "PW_SANDBOX_EXTERNAL": "1",
            "PW_QPS": "1000",
        }
        (tmp_path / "worker").mkdir()
        worker_env = env | {"PW_PROCESS_ROLE": "worker", "PW_DATA_DIR": str(tmp_path / "worker" / "data")}
        worker = start_worker(tmp_path / "worker", worker_env)
        stack.callback(stop_worker, worker)
        web = env | {"PW_PROCESS_ROLE": "web"}
        apps = []
        for label in ("a", "b"):
            (tmp_path / label).mkdir()
            app = start_app(tmp_path / label, **web)
            stack.callback(stop_app, app)
            apps.append(app)
        yield Deployment(tmp_path, web, database_url, apps[0], apps[1], worker, stack)


def _client(app: RunningApp, env: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {env['PW_API_TOKEN']}"}, timeout=30)


def _wait_ended(client: httpx.Client, task_id: int, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = client.get(f"/api/tasks/{task_id}")
        assert response.status_code == 200, response.text
        if response.json()["status"] in jobs.ENDED:
            return str(response.json()["status"])
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} has not ended within {seconds} s")


@dataclass
class Burst:
    """Concurrent `POST /api/sync` and `GET /api/tasks/{id}` on one replica until it stops answering."""

    client: httpx.Client
    queued: list[int] = field(default_factory=list)  # task ids from success answers to POST /api/sync
    exports: int = 0  # CSV exports received whole
    answers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            while True:
                response = self.client.post(API_SYNC, json={"partner": None})
                assert response.status_code == 200, response.text
                task_id = int(response.json()["task_id"])
                self._answered(task_id)
                read = self.client.get(f"/api/tasks/{task_id}")
                assert read.status_code == 200, read.text
                self._answered(None)
                csv = self.client.get(EXPORT_PATH)  # the whole body, or a TransportError
                assert csv.status_code == 200, csv.text
                assert csv.text.startswith('"Member",'), csv.text[:200]
                self._answered(None, export=True)
        except httpx.TransportError:  # the replica is gone: this request got no answer
            return

    def _answered(self, task_id: int | None, *, export: bool = False) -> None:
        with self.lock:
            if task_id is not None:
                self.queued.append(task_id)
            self.exports += export
            self.answers += 1
            if self.answers >= ANSWERED_BEFORE_KILL and self.queued and self.exports:  # one of each at least
                self.enough.set()


def _kill_mid_burst(app: RunningApp, burst: Burst) -> list[int]:
    """SIGKILL the replica while the burst's requests are in flight; the task ids it answered (any success answer
    came before the kill: a killed process sends nothing)."""
    with ThreadPoolExecutor(BURST_THREADS) as pool:
        runs = [pool.submit(burst.run) for _ in range(BURST_THREADS)]
        assert burst.enough.wait(60), f"replica A answered only {burst.answers} requests:\n{app.log()}"
        app.process.send_signal(signal.SIGKILL)
        for run in runs:
            run.result(timeout=60)  # every thread saw the replica go (or an assertion failed)
    assert app.process.wait(timeout=10) == -signal.SIGKILL
    return burst.queued


def _assert_nothing_half_written(d: Deployment) -> None:
    missing = " OR ".join(f"{column} IS NULL" for column in REQUIRED)
    assert d.rows(f"SELECT id FROM tasks WHERE parent_id IS NULL AND ({missing})") == []
    unaudited = d.rows(
        """SELECT t.id FROM tasks t WHERE t.parent_id IS NULL AND t.trigger = 'cli' AND NOT EXISTS (
               SELECT 1 FROM audit_log a WHERE a.action = 'sync.request' AND a.detail LIKE 'task #' || t.id || ';%')"""
    )
    assert unaudited == [], "tasks queued with no audit row saying who queued them"
    held = d.rows(
        "SELECT id, status FROM tasks WHERE active_key IS NOT NULL AND status <> ALL(%s)", [list(jobs.ACTIVE)]
    )
    assert held == [], "an ended task still holds the dedupe key"


def _assert_all_end(d: Deployment, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while d.rows("SELECT id FROM tasks WHERE status = ANY(%s)", [list(jobs.ACTIVE)]):
        assert time.monotonic() < deadline, f"tasks still active after {seconds} s:\n{d.worker.log()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_web_replica_killed_mid_request_loses_nothing_it_answered_and_the_others_carry_on(
    deployment: Deployment,
) -> None:
    d = deployment
    migrations = d.rows("SELECT * FROM schema_migrations ORDER BY 1")
    with _client(d.a, d.env) as a:
        first = int(a.post(API_SYNC, json={"partner": None}).json()["task_id"])
        assert _wait_ended(a, first) in jobs.ENDED  # committed and run to its end before the kill
        burst = Burst(a)
        answered = _kill_mid_burst(d.a, burst)
    assert answered, "A answered no Check for updates before it was killed"
    assert burst.exports, "A sent no whole CSV export before it was killed"

    committed = {row[0] for row in d.rows("SELECT id FROM tasks WHERE parent_id IS NULL")}
    assert {first, *answered} <= committed, "a task A answered for is not in the database"
    audited = d.rows("SELECT count(*) FROM audit_log WHERE action = 'sync.request'")[0][0]
    assert audited >= 1 + len(answered), "an answered request has no audit row"
    exported = "SELECT count(*) FROM audit_log WHERE action = 'export.members' AND outcome = 'ok'"
    assert d.rows(exported)[0][0] >= burst.exports, "a CSV export received whole has no audit row"
    _assert_nothing_half_written(d)
    _assert_all_end(d)  # what A queued is run by the worker: nothing stays Queued for the dead replica
    _assert_nothing_half_written(d)

    statuses = dict(d.rows("SELECT id, status FROM tasks WHERE parent_id IS NULL"))
    with _client(d.b, d.env) as b:
        for task_id in sorted({first, *answered}):
            response = b.get(f"/api/tasks/{task_id}")
            assert response.status_code == 200, response.text
            assert response.json()["status"] == statuses[task_id]
        after = int(b.post(API_SYNC, json={"partner": None}).json()["task_id"])
        assert after not in committed
        assert _wait_ended(b, after) == statuses[first]  # runs as the one before the kill did

    assert d.rows("SELECT objid FROM pg_locks WHERE locktype = 'advisory'") == []
    c = d.replica("c")
    assert d.rows("SELECT * FROM schema_migrations ORDER BY 1") == migrations  # nothing applied again
    with _client(c, d.env) as client:
        assert client.get(f"/api/tasks/{after}").json()["status"] == statuses[first]


def test_a_check_for_updates_is_queued_with_its_audit_row_or_not_at_all(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patched:
        patched.setattr(audit, "record", dies)
        with pytest.raises(RuntimeError, match="died here"):
            check_for_updates.request(svc, actor=ADMIN_ACTOR)
    assert jobs.list_tasks(svc.store).empty  # no task without the row saying who queued it, none holding the key

    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR)
    rows = audit.query(svc.store, action="sync.request")
    assert list(rows["detail"]) == [f"task #{task_id}; trigger {jobs.TRIGGER_MANUAL}"]
