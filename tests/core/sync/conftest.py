"""The member-sync tests run on both stores: `onboarded` here is the onboarded workspace on the DuckDB file, or
moved into a fresh PostgreSQL database, and `store` a migrated store of each backend (tests/support/backends.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.services import Services
from core.store.database import Store
from tests.support.backends import Backend


@pytest.fixture
def onboarded(workspace_factory: Callable[..., Services], backend: Backend, onboarded_template: Path) -> Services:
    """A copy of the onboarded workspace against the freshly reset sandbox, on each backend (on PostgreSQL a
    clone of the database the onboarded DuckDB file was copied into once per worker)."""
    if backend.name == "duckdb":
        return workspace_factory()
    return workspace_factory(database_url=backend.copy_of(onboarded_template / "pw.duckdb"), copied=True)


@pytest.fixture
def store(backend: Backend) -> Store:
    """An empty, migrated store of each backend (the schedule's claims)."""
    return backend.open()
