"""Fixtures for the connect tests: Services against the session's sandbox, with the customer BC connected
and the partner list synced once per module (failure-path tests then check that nothing changed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import services as core_services
from core.services import Services
from core.sync import check_for_updates
from sandbox.server import SandboxServer
from tests.support.services import ADMIN_ACTOR, connect_customer, make_services


def ready_services(tmp_path: Path, sandbox: SandboxServer) -> Services:
    """Services with the customer BC connected and the partner list (with shared assets) synced."""
    svc = make_services(tmp_path, sandbox, PW_QPS="1000")
    assert connect_customer(svc, sandbox).ok
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR)
    assert svc.runner.wait(task_id, timeout=60) == "Completed"
    return svc


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sandbox_session: SandboxServer) -> Iterator[Services]:
    """One synced workspace per module (the sandbox is reset first, then not between its tests)."""
    sandbox_session.reset()
    svc = ready_services(tmp_path_factory.mktemp("connect"), sandbox_session)
    yield svc
    core_services.install(None)
    svc.close()


@pytest.fixture
def fresh(tmp_path: Path, sandbox: SandboxServer) -> Iterator[Services]:
    """A synced workspace of its own, against a freshly reset sandbox."""
    svc = ready_services(tmp_path, sandbox)
    yield svc
    core_services.install(None)
    svc.close()


def with_settings(svc: Services, **changes: object) -> Services:
    """The same store and runner, other settings (a wrong app secret, an unreachable TikTok)."""
    return dataclasses.replace(svc, settings=dataclasses.replace(svc.settings, **changes))
