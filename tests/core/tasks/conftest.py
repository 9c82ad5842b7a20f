"""The task queue's tests run on both stores: `store` here is a migrated store of each backend
(tests/support/backends.py)."""

from __future__ import annotations

import pytest

from core.store.database import Store
from tests.support.backends import Backend


@pytest.fixture
def store(backend: Backend) -> Store:
    """An empty, migrated store of each backend (closed after the test)."""
    return backend.open()
