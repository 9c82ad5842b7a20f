"""The app's lifespan (ui/routes.py, what `make run` runs): a stop closes the store cleanly, and a restart
keeps the embedded sandbox's tokens and control changes (data/sandbox-state.json), so every connection
still works; PW_SANDBOX_RESET=1 starts the sandbox from its seed."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from core import services as core_services
from core.connect import workspace
from core.security import audit
from core.services import Services
from core.store.database import StoreError
from core.tasks import jobs
from tests.support.onboarding import run_sync, wait_all
from tests.support.services import connect_customer, connect_partner
from ui.routes import lifespan


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The environment of `make run` in sandbox mode, with its data directory under tmp_path."""
    for var in (
        "PW_TIKTOK_APP_ID",
        "PW_TIKTOK_APP_SECRET",
        "PW_ENCRYPTION_KEYS",
        "PW_API_TOKEN",
        "PW_SANDBOX_EXTERNAL",
        "PW_SANDBOX_RESET",
    ):
        monkeypatch.delenv(var, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("PW_DATA_DIR", str(data))
    monkeypatch.setenv("PW_DB_PATH", str(data / "partnerwatch.duckdb"))
    monkeypatch.setenv("PW_PORT", str(free_port()))
    monkeypatch.setenv("PW_QPS", "1000")
    monkeypatch.setenv("PW_SANDBOX_PORT", str(free_port()))
    core_services.install(None)
    yield data
    core_services.install(None)
    gc.unfreeze()  # the lifespan froze the heap (ui.startup.freeze_heap): the suite's objects are collected as before


def run_app(body: Callable[[Services], None]) -> Services:
    """Start the app's lifespan, run `body` (in a thread) with the services it built, stop; returns them."""

    async def main() -> Services:
        async with lifespan(None):
            svc = await asyncio.to_thread(core_services.get)
            await asyncio.to_thread(body, svc)
        return svc

    return asyncio.run(main())


def test_stop_checkpoints_and_closes_the_store(app_env: Path) -> None:
    wal = app_env / "partnerwatch.duckdb.wal"

    def write(svc: Services) -> None:
        audit.record(svc.store, actor="t", action="test.write", target="x", outcome="ok")
        assert wal.stat().st_size > 0  # the write is in the WAL while the app runs

    svc = run_app(write)
    assert not wal.exists() or wal.stat().st_size == 0
    with pytest.raises(StoreError, match="closed"):
        svc.store.schema_version()
    assert core_services._current is None  # a later start builds fresh services


def _sandbox(port: str) -> SimpleNamespace:
    return SimpleNamespace(base_url=f"http://127.0.0.1:{port}")


def _partner_members(svc: Services, bc_id: str) -> dict[str, str]:
    with svc.store.read() as cur:
        rows = cur.execute(
            "SELECT user_email, user_role FROM members WHERE partner_bc_id = ? AND removed_at IS NULL", [bc_id]
        ).fetchall()
    return dict(rows)


def test_a_restart_keeps_every_connection_and_check_for_updates_completes(app_env: Path) -> None:
    sandbox = _sandbox(os.environ["PW_SANDBOX_PORT"])
    seen: dict[str, str] = {}

    def connect_and_change(svc: Services) -> None:
        workspace.sandbox_users(svc.store)
        assert connect_customer(svc, sandbox).ok
        assert run_sync(svc)[1] == jobs.COMPLETED
        partner = httpx.get(sandbox.base_url + "/sandbox/world", timeout=30).json()["partners"][2]
        assert connect_partner(svc, sandbox, partner["bc_id"], partner["monitor_email"]).ok
        wait_all(svc)
        response = httpx.post(
            sandbox.base_url + "/sandbox/control/members/add",
            timeout=10,
            json={"bc_id": partner["bc_id"], "user_email": "late@agency.example"},
        )
        assert response.status_code == 200, response.text
        seen["bc_id"] = partner["bc_id"]

    def check_for_updates(svc: Services) -> None:
        status = run_sync(svc)[1]
        assert status == jobs.COMPLETED, jobs.list_tasks(svc.store).iloc[0].to_dict()
        assert _partner_members(svc, seen["bc_id"])["late@agency.example"] == "STANDARD"

    run_app(connect_and_change)
    assert (app_env / "sandbox-state.json").exists()
    run_app(check_for_updates)  # `make run` again: same data directory, new process state


def test_sandbox_reset_on_start_starts_from_the_seed(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = _sandbox(os.environ["PW_SANDBOX_PORT"])

    def connect(svc: Services) -> None:
        workspace.sandbox_users(svc.store)
        assert connect_customer(svc, sandbox).ok

    def check_for_updates(svc: Services) -> None:
        assert run_sync(svc)[1] == jobs.NOT_COMPLETED  # the reset sandbox no longer knows the app's token

    run_app(connect)
    monkeypatch.setenv("PW_SANDBOX_RESET", "1")
    run_app(check_for_updates)


def test_a_web_replica_runs_no_jobs_it_only_queues_them(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW_PROCESS_ROLE", "web")  # on DuckDB only for this test: the start-up check refuses it
    seen: dict[str, object] = {}

    def request(svc: Services) -> None:
        from core.alerts import dispatcher
        from core.sync import check_for_updates, schedule
        from tests.support.services import ADMIN_ACTOR

        workspace.sandbox_users(svc.store)
        task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR)
        with pytest.raises(TimeoutError):
            svc.runner.wait(task_id, timeout=1.5)
        seen.update(status=jobs.status_of(svc.store, task_id), scheduler=schedule._running, alerts=dispatcher._running)

    svc = run_app(request)
    assert seen == {"status": jobs.QUEUED, "scheduler": None, "alerts": None}
    assert svc.runner.running == []


def test_the_lifespan_freezes_the_heap_it_started_with(app_env):
    gc.unfreeze()
    run_app(lambda svc: None)
    assert gc.get_freeze_count() > 0  # the start-up objects are out of the collector's full passes
