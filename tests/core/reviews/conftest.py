"""Fixtures for the access review tests: a synthetic members database (fast, no sandbox), and the onboarded
sandbox workspace of the member tests (for the tests where a real sync must run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import datagen
from core.store.database import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """5 partners × 40 synthetic members (admins, flags, formula-like names, ~3% removed)."""
    store = datagen.synthetic_store(tmp_path / "pw.duckdb", 5, 40)
    yield store
    store.close()
