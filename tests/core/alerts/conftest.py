"""Alert test fixtures: services on a fresh database (sandbox mode unless a test switches to production), real
receivers on 127.0.0.1, and the onboarded workspace of the member tests for the sync-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core import services as core_services
from core.services import Services
from tests.support.backends import Backend
from tests.support.receivers import HttpReceiver, SmtpReceiver
from tests.support.services import make_services


@pytest.fixture
def svc(tmp_path: Path, backend: Backend) -> Iterator[Services]:
    """Services on each backend (PostgreSQL: a fresh migrated database)."""
    url = {} if backend.name == "duckdb" else {"PW_DATABASE_URL": backend.target()}
    services = make_services(tmp_path, PW_ALERTS_BACKOFF_S="0.05", PW_ALERTS_MAX_ATTEMPTS="5", **url)
    yield services
    core_services.install(None)
    services.close()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    yield r
    r.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    s = SmtpReceiver(tmp_path).start()
    yield s
    s.stop()
