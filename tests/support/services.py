"""Real Services for tests (a DuckDB file under tmp, the sandbox as TikTok), the actors, and connecting accounts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import streamlit as st

from core import services as core_services
from core.config.process_roles import ROLE_WORKER
from core.config.settings import Settings
from core.connect import connections
from core.security.roles import ADMIN, ANALYST, Actor
from core.services import Services
from core.store.database import Store
from core.tasks.runner import JobRunner

ADMIN_ACTOR = Actor("admin@partnerwatch.local", ADMIN)
ANALYST_ACTOR = Actor("analyst@partnerwatch.local", ANALYST)
CUSTOMER_ADMIN = "admin@acme.example"
PASSWORD = "sandbox-pass"


def make_services(tmp_path: Path, sandbox=None, **env: str) -> Services:
    """Services in sandbox mode against `sandbox` (or an unreachable port), installed process-wide."""
    port = urlparse(sandbox.base_url).port if sandbox is not None else 9
    settings = Settings.load(
        env={
            "PW_SANDBOX_PORT": str(port),
            "PW_DB_PATH": str(tmp_path / "pw.duckdb"),
            "PW_DATA_DIR": str(tmp_path / "data"),
            "PW_PORT": "8501",
            **env,
        },
        secrets_file=tmp_path / "absent-secrets.toml",
        root=tmp_path,
    )
    svc = core_services.build(settings)
    core_services.install(svc)
    st.cache_resource.clear()  # ui.resources caches the process's services
    return svc


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    """Services on an empty workspace under tmp, TikTok unreachable."""
    services = make_services(tmp_path)
    yield services
    core_services.install(None)
    services.close()


def replica(svc: Services, role: str = ROLE_WORKER, **runner: float) -> Services:
    """Another process on `svc`'s database, as the process roles split them: its settings name `role` and it
    has its own job runner (claiming unless `role` is web; `runner` options such as lease_s, poll_s). On the
    DuckDB file, one process per file, it shares `svc`'s Store; a PostgreSQL suite gives it its own. Shut its
    runner down after use (`svc.close()` closes the store)."""
    settings = dataclasses.replace(svc.settings, process_role=role)
    options = {"lease_s": settings.task_lease_s, "poll_s": 0.05, **runner}
    jobs = JobRunner(svc.store, claims=settings.runs_jobs, **options)
    return dataclasses.replace(svc, settings=settings, runner=jobs)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated store under tmp."""
    opened = Store(tmp_path / "store.duckdb")
    yield opened
    opened.close()


def authorize(svc: Services, sandbox, started: connections.Started, email: str) -> connections.Outcome:
    """Play the browser's part: log in on the sandbox portal, confirm, and hit the callback."""
    from sandbox.testing import obtain_auth_code

    state = parse_qs(urlparse(started.start_url).query)["state"][0]
    code = obtain_auth_code(sandbox.base_url, svc.settings.app_id, svc.settings.redirect_uri, email, PASSWORD, state)
    return connections.finish_callback(
        svc, {"auth_code": code, "code": code, "state": state}, connections.binding_for(svc, started.flow.flow_id)
    )


def connect_customer(svc: Services, sandbox) -> connections.Outcome:
    started = connections.start(svc, ADMIN_ACTOR, purpose=connections.CUSTOMER)
    return authorize(svc, sandbox, started, CUSTOMER_ADMIN)


def connect_partner(svc: Services, sandbox, bc_id: str, monitor_email: str) -> connections.Outcome:
    started = connections.start(svc, ADMIN_ACTOR, purpose=connections.PARTNER, partner_bc_id=bc_id)
    return authorize(svc, sandbox, started, monitor_email)
