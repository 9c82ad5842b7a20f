"""A partner's connection state changes only through the named transitions of core/accounts/connection.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.accounts import connection, partners
from core.accounts.connection import Connection
from core.store.database import Store

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "pw.duckdb")
    with store.write() as cur:
        partners.apply_partner_list(cur, [{"bc_id": "p1", "bc_name": "Agency"}], NOW)
        cur.execute("UPDATE partners SET assets_shared_with_partner = 1 WHERE bc_id = 'p1'")
    yield store
    store.close()


def _state(store: Store) -> tuple[str, int | None, str | None]:
    p = partners.get(store, "p1")
    assert p is not None
    return p.status, p.token_id, p.last_error


def test_the_lifecycle_of_a_partner_connection(store: Store) -> None:
    assert _state(store) == (partners.PENDING_ONBOARDING, None, None)
    with store.write() as cur:
        connection.connected(cur, "p1", 7)
    assert _state(store) == (partners.ONBOARDED, 7, None)
    with store.write() as cur:
        assert connection.sync_failed(cur, "p1", "TikTok error 50000") is not None
    assert _state(store) == (partners.SYNC_FAILED, 7, "TikTok error 50000")
    with store.write() as cur:
        connection.synced(cur, ["p1"], NOW)
    assert _state(store) == (partners.ONBOARDED, 7, None)
    with store.write() as cur:
        assert connection.safeguard_halted(cur, "p1", "would remove 9 of 10") is not None
    assert _state(store) == (partners.HALTED_SAFEGUARD, 7, "would remove 9 of 10")
    with store.write() as cur:
        connection.synced(cur, ["p1"], NOW)
    assert partners.get(store, "p1").last_sync_at is not None
    with store.write() as cur:
        assert connection.token_rejected(cur, "p1", "40105") is not None
    assert _state(store) == (partners.RECONNECT_REQUIRED, 7, "40105")
    with store.write() as cur:
        connection.synced(cur, ["p1"], NOW)  # a sync never heals a rejected token: only reconnecting does
    assert _state(store)[0] == partners.RECONNECT_REQUIRED
    with store.write() as cur:
        connection.disconnected(cur, "p1")
    assert _state(store) == (partners.DISCONNECTED, None, None)


def test_only_the_connection_module_writes_the_connection_columns() -> None:
    writes = re.compile(r"UPDATE\s+partners\s+SET[^;\"]*\b(connection|token_id|last_error|last_sync_at)\s*=", re.I)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if path.name != "connection.py" and writes.search(path.read_text())
    ]
    assert offenders == []


def test_syncable_states_are_the_onboarded_ones() -> None:
    assert {Connection.CONNECTED, Connection.SYNC_FAILED, Connection.SAFEGUARD_HALTED} == connection.SYNCABLE
