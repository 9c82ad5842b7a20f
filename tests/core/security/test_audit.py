"""Audit log: record, filters, ordering, redaction, transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.logging_setup import register_secret
from core.security import audit
from core.store.database import Store

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _seed(store: Store) -> None:
    audit.record(
        store, actor="ann@acme.example", action="connect.partner", target="7312345678901234567", outcome="ok", at=T0
    )
    audit.record(
        store,
        actor="bob@acme.example",
        action="sync.run",
        target="all partners",
        outcome="ok",
        at=T0 + timedelta(minutes=1),
    )
    audit.record(
        store,
        actor="ann@acme.example",
        action="export.members",
        target="members.csv",
        outcome="ok",
        detail="1234 rows",
        at=T0 + timedelta(minutes=2),
    )
    audit.record(
        store,
        actor="ann@acme.example",
        action="connect.customer",
        target="customer BC",
        outcome="failed",
        detail="denied",
        at=T0 + timedelta(minutes=3),
    )


def test_record_and_query_newest_first(store: Store) -> None:
    _seed(store)
    frame = audit.query(store)
    assert list(frame.columns) == ["id", "at", "actor", "action", "target", "outcome", "detail"]
    assert list(frame["action"]) == ["connect.customer", "export.members", "sync.run", "connect.partner"]
    assert frame.iloc[0]["at"] == T0 + timedelta(minutes=3)
    assert frame.iloc[1]["detail"] == "1234 rows"
    assert frame.iloc[3]["target"] == "7312345678901234567"


def test_filters(store: Store) -> None:
    _seed(store)
    assert len(audit.query(store, actor="ann@acme.example")) == 3
    assert list(audit.query(store, action="sync.run")["actor"]) == ["bob@acme.example"]
    assert list(audit.query(store, action="connect.*")["action"]) == ["connect.customer", "connect.partner"]
    assert list(audit.query(store, since=T0 + timedelta(minutes=2))["action"]) == ["connect.customer", "export.members"]
    assert list(
        audit.query(store, actor="ann@acme.example", action="connect.*", since=T0 + timedelta(minutes=1))["outcome"]
    ) == ["failed"]
    assert len(audit.query(store, limit=2)) == 2
    assert audit.query(store, actor="nobody").empty


def test_default_time_is_now(store: Store) -> None:
    before = datetime.now(UTC)
    audit.record(store, actor="a", action="settings.update", target="sync policy", outcome="ok")
    at = audit.query(store).iloc[0]["at"]
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)


def test_limit_validated(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        audit.query(store, limit=0)


def test_secrets_never_stored(store: Store) -> None:
    register_secret("vault-password-Hunter2!")
    audit.record(
        store,
        actor="ann@acme.example",
        action="vault.reveal",
        target="monitor@agency.example",
        outcome="ok",
        detail='revealed vault-password-Hunter2! {"access_token": "act.x1y2z3"} '
        "code=auth-code-123 a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
    )
    with store.read() as cur:
        stored = repr(cur.execute("SELECT * FROM audit_log").fetchall())
    for secret in ("Hunter2", "act.x1y2z3", "auth-code-123", "a1b2c3d4e5f6"):
        assert secret not in stored
    assert "monitor@agency.example" in stored
    assert stored.count("[REDACTED]") == 4


def test_record_joins_the_callers_transaction(store: Store) -> None:
    def fail() -> None:
        with store.write():
            audit.record(store, actor="a", action="disconnect.partner", target="1", outcome="ok")
            raise RuntimeError("revocation failed")

    with pytest.raises(RuntimeError, match="revocation failed"):
        fail()
    assert audit.query(store).empty
