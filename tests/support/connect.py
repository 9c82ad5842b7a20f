"""Connecting partners in tests: Services against the session's sandbox with the customer BC connected and the
partner list synced (built once per run, `ready_template`), copied once per module (`world`: failure-path
tests then check that nothing changed) or per test (`fresh`), and the steps of a partner connect played by
hand (start, code, callback)."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from core import services as core_services
from core.connect import connections
from core.services import Services
from core.sync import check_for_updates
from sandbox.models import PartnerInfo
from sandbox.server import SandboxServer
from sandbox.testing import obtain_auth_code
from tests.support.onboarding import reissue_tokens, workspace_template
from tests.support.services import ADMIN_ACTOR, PASSWORD, connect_customer, make_services


def ready_services(tmp_path: Path, sandbox: SandboxServer) -> Services:
    """Services with the customer BC connected and the partner list (with shared assets) synced."""
    svc = make_services(tmp_path, sandbox, PW_QPS="1000")
    assert connect_customer(svc, sandbox).ok
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR)
    assert svc.runner.wait(task_id, timeout=60) == "Completed"
    return svc


@pytest.fixture(scope="session")
def ready_template(tmp_path_factory: pytest.TempPathFactory, sandbox_session: SandboxServer) -> Path:
    """A workspace directory made by `ready_services` once per run (shared by the xdist workers)."""
    return workspace_template(tmp_path_factory, "ready-template", sandbox_session, ready_services)


def ready_copy(template: Path, tmp_path: Path, sandbox: SandboxServer) -> Services:
    """A copy of the ready workspace against `sandbox` (reset), with a fresh customer token."""
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    svc = make_services(tmp_path, sandbox, PW_QPS="1000")
    reissue_tokens(svc, sandbox, partners=False)
    return svc


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, sandbox_session: SandboxServer, ready_template: Path
) -> Iterator[Services]:
    """One synced workspace per module (the sandbox is reset first, then not between its tests)."""
    sandbox_session.reset()
    svc = ready_copy(ready_template, tmp_path_factory.mktemp("connect"), sandbox_session)
    yield svc
    core_services.install(None)
    svc.close()


@pytest.fixture
def fresh(tmp_path: Path, sandbox: SandboxServer, ready_template: Path) -> Iterator[Services]:
    """A synced workspace of its own, against a freshly reset sandbox."""
    svc = ready_copy(ready_template, tmp_path, sandbox)
    yield svc
    core_services.install(None)
    svc.close()


def with_settings(svc: Services, **changes: object) -> Services:
    """The same store and runner, other settings (a wrong app secret, an unreachable TikTok)."""
    return dataclasses.replace(svc, settings=dataclasses.replace(svc.settings, **changes))


def partner_no(sandbox: SandboxServer, number: int) -> PartnerInfo:
    return next(p for p in sandbox.world.partners if p.number == number)


def state_of(started: connections.Started) -> str:
    return parse_qs(urlparse(started.start_url).query)["state"][0]


def code_for(svc: Services, sandbox: SandboxServer, email: str, state: str) -> str:
    return obtain_auth_code(sandbox.base_url, svc.settings.app_id, svc.settings.redirect_uri, email, PASSWORD, state)


def callback(svc: Services, started: connections.Started, query: dict[str, str]) -> connections.Outcome:
    return connections.finish_callback(svc, query, connections.binding_for(svc, started.flow.flow_id))


def snapshot(svc: Services) -> tuple:
    """Everything a partner connect could change."""
    with svc.store.read() as cur:
        return (
            cur.execute("SELECT bc_id, connection, token_id, last_error FROM partners ORDER BY bc_id").fetchall(),
            cur.execute("SELECT count(*) FROM tokens WHERE purpose = 'partner'").fetchone()[0],
            cur.execute("SELECT count(*) FROM tasks WHERE parent_id IS NULL").fetchone()[0],
        )


def start_for(svc: Services, info: PartnerInfo) -> connections.Started:
    return connections.start(svc, ADMIN_ACTOR, purpose=connections.PARTNER, partner_bc_id=info.bc_id)
