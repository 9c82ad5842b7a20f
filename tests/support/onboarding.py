"""Onboarded workspaces: the customer BC and every eligible ADMIN-monitored partner connected through the
sandbox portal and synced, built once per test run (`onboarded_template`, shared by the xdist workers) and
copied per test (`onboarded`, `workspace_factory`) or per process (`prepared_workspace`) with fresh tokens."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core import services as core_services
from core.accounts import tokens
from core.connect import workspace
from core.services import Services
from core.store import transfer
from core.sync import check_for_updates
from core.tasks import jobs
from core.tiktok.transport import ClientConfig
from sandbox.server import SandboxServer
from tests.support.sandbox import monitored_partners
from tests.support.services import ADMIN_ACTOR, CUSTOMER_ADMIN, connect_customer, connect_partner, make_services


def fast_retries(svc: Services) -> None:
    """Same retry policy, shorter waits (the sandbox's faults are retried in milliseconds)."""
    config = dataclasses.replace(svc.client_config(), backoff_base_s=0.005, backoff_cap_s=0.02, throttle_penalty_s=0.01)
    svc.client_config = lambda: config  # type: ignore[method-assign]
    assert isinstance(config, ClientConfig)


def run_sync(svc: Services, partner_bc_id: str | None = None) -> tuple[int, str]:
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR, partner_bc_id=partner_bc_id)
    return task_id, svc.runner.wait(task_id, timeout=60)


def wait_all(svc: Services) -> None:
    for task_id in jobs.list_tasks(svc.store)["id"]:
        svc.runner.wait(int(task_id), timeout=60)


def onboard(tmp_path: Path, sandbox: SandboxServer) -> Services:
    svc = make_services(tmp_path, sandbox, PW_QPS="1000")
    fast_retries(svc)
    workspace.sandbox_users(svc.store)  # the sandbox workspace's admin starts the connections
    assert connect_customer(svc, sandbox).ok
    assert run_sync(svc)[1] == jobs.COMPLETED
    for info in monitored_partners(sandbox):
        assert connect_partner(svc, sandbox, info.bc_id, info.monitor_email).ok
        wait_all(svc)
    assert run_sync(svc)[1] == jobs.COMPLETED
    return svc


def workspace_template(
    tmp_path_factory: pytest.TempPathFactory, name: str, sandbox: SandboxServer, build: Callable[..., Services]
) -> Path:
    """The workspace directory `build(path, sandbox)` makes on a reset sandbox, built once per run: in the
    run's base temp, under a file lock, by whichever xdist worker needs it first (a failed build is redone)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's base temp is a folder of the run's
    path, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            sandbox.reset()
            svc = build(path, sandbox)
            core_services.install(None)
            svc.close()
            done.touch()
    return path


@pytest.fixture(scope="session")
def onboarded_template(tmp_path_factory: pytest.TempPathFactory, sandbox_session: SandboxServer) -> Path:
    """A workspace directory onboarded once per run (OAuth through the portal, full syncs); tests copy it and
    reissue its tokens against their own sandbox."""
    return workspace_template(tmp_path_factory, "onboarded-template", sandbox_session, onboard)


def reissue_tokens(svc: Services, sandbox: SandboxServer, *, partners: bool = True) -> None:
    """A reset sandbox forgot every token: store fresh ones for the same accounts (as a reconnect would),
    the customer's and, unless `partners` is False, every monitored partner's."""
    with svc.store.write() as cur:
        customer = tokens.save(
            cur,
            svc.box,
            purpose="customer",
            bc_id=None,
            actor="tests",
            access_token=sandbox.world.issue_token(CUSTOMER_ADMIN),
        )
        cur.execute("UPDATE integration SET token_id = ? WHERE id = 1", [customer])
        for info in monitored_partners(sandbox) if partners else []:
            token_id = tokens.save(
                cur,
                svc.box,
                purpose="partner",
                bc_id=info.bc_id,
                actor="tests",
                access_token=sandbox.world.issue_token(info.monitor_email),
            )
            cur.execute("UPDATE partners SET token_id = ? WHERE bc_id = ?", [token_id, info.bc_id])


@pytest.fixture
def workspace_factory(
    onboarded_template: Path, tmp_path: Path, sandbox: SandboxServer
) -> Iterator[Callable[..., Services]]:
    """`factory(**env)`: a copy of the onboarded workspace (extra env, e.g. PW_HTTP_TIMEOUT) against the
    freshly reset sandbox, with fresh tokens for the same accounts and millisecond retry waits.
    `factory(database_url=…)`: the same workspace moved into that PostgreSQL database (`migrate-store`);
    with `copied=True` the database already holds the template's data (`Backend.copy_of`)."""
    opened: list[Services] = []

    def factory(database_url: str | None = None, *, copied: bool = False, **env: str) -> Services:
        shutil.copytree(onboarded_template, tmp_path, dirs_exist_ok=True)
        if database_url is not None and not copied:
            transfer.copy_store(tmp_path / "pw.duckdb", database_url)
            env["PW_DATABASE_URL"] = database_url
        svc = make_services(tmp_path, sandbox, PW_QPS="1000", **env)
        fast_retries(svc)
        reissue_tokens(svc, sandbox)
        opened.append(svc)
        return svc

    yield factory
    core_services.install(None)
    for svc in opened:
        svc.close()


@pytest.fixture
def onboarded(workspace_factory: Callable[..., Services]) -> Services:
    """A copy of the onboarded workspace against the freshly reset sandbox."""
    return workspace_factory()


def prepared_workspace(template: Path, target: Path, sandbox: SandboxServer) -> dict[str, str]:
    """Copy an onboarded workspace to `target` with fresh tokens, closed: the env of a process using it."""
    shutil.copytree(template, target, dirs_exist_ok=True)
    svc = make_services(target, sandbox, PW_QPS="1000")
    reissue_tokens(svc, sandbox)
    core_services.install(None)
    svc.close()
    return {
        "PW_DB_PATH": str(target / "pw.duckdb"),
        "PW_DATA_DIR": str(target / "data"),
        "PW_SANDBOX_PORT": str(sandbox.port),
        "PW_QPS": "1000",
    }
