"""Single-use OAuth state: begin, consume (once), expiry, unknown/missing, races, finish, purge."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest

from core.connect import oauth_flows
from core.connect.oauth_flows import FlowError
from core.store.database import Store

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _begin(store: Store, **kwargs: object) -> tuple[oauth_flows.Flow, str]:
    return oauth_flows.begin(
        store, purpose="partner", initiator="admin@acme.example", partner_bc_id="7312345678901234567", now=T0, **kwargs
    )  # type: ignore[arg-type]


def test_begin_returns_pending_flow_and_state(store: Store) -> None:
    flow, state = _begin(store, session_binding="sess-1")
    assert flow.status == "pending"
    assert (flow.purpose, flow.partner_bc_id, flow.initiator) == (
        "partner",
        "7312345678901234567",
        "admin@acme.example",
    )
    assert flow.session_binding == "sess-1"
    assert flow.created_at == T0
    assert flow.expires_at == T0 + timedelta(minutes=10)
    assert len(state) >= 43
    assert oauth_flows.get(store, flow.flow_id) == flow


def test_only_the_hash_is_stored(store: Store) -> None:
    _, state = _begin(store)
    with store.read() as cur:
        rows = cur.execute("SELECT * FROM oauth_flows").fetchall()
    assert state not in repr(rows)
    assert hashlib.sha256(state.encode()).hexdigest() in repr(rows)


def test_states_are_unique(store: Store) -> None:
    states = {_begin(store)[1] for _ in range(50)}
    assert len(states) == 50


def test_consume_once(store: Store) -> None:
    flow, state = _begin(store)
    consumed = oauth_flows.consume(store, state, now=T0 + timedelta(minutes=1))
    assert consumed.flow_id == flow.flow_id
    assert consumed.status == "exchanging"
    with pytest.raises(FlowError) as caught:
        oauth_flows.consume(store, state, now=T0 + timedelta(minutes=2))
    assert caught.value.reason == "reused"
    assert "already been used" in str(caught.value)


def test_expired(store: Store) -> None:
    _, state = _begin(store, ttl=timedelta(minutes=5))
    with pytest.raises(FlowError) as caught:
        oauth_flows.consume(store, state, now=T0 + timedelta(minutes=5))
    assert caught.value.reason == "expired"
    assert "expired" in str(caught.value)


def test_unknown_and_missing(store: Store) -> None:
    _begin(store)
    with pytest.raises(FlowError) as unknown:
        oauth_flows.consume(store, "forged-state-value", now=T0)
    assert unknown.value.reason == "unknown"
    for missing in (None, ""):
        with pytest.raises(FlowError) as caught:
            oauth_flows.consume(store, missing, now=T0)
        assert caught.value.reason == "missing"
        assert str(caught.value).endswith("Start the connection again from PartnerWatch.")


def test_peek_does_not_consume(store: Store) -> None:
    flow, state = _begin(store)
    assert oauth_flows.peek(store, state, now=T0).flow_id == flow.flow_id
    assert oauth_flows.consume(store, state, now=T0).flow_id == flow.flow_id
    with pytest.raises(FlowError, match="already been used"):
        oauth_flows.peek(store, state, now=T0)
    with pytest.raises(FlowError) as caught:
        oauth_flows.peek(store, None)
    assert caught.value.reason == "missing"


def test_concurrent_consume_exactly_one_wins(store: Store) -> None:
    _, state = _begin(store)
    barrier = threading.Barrier(8)
    winners: list[str] = []
    reasons: list[str] = []
    unexpected: list[BaseException] = []

    def attempt() -> None:
        barrier.wait()
        try:
            winners.append(oauth_flows.consume(store, state, now=T0 + timedelta(seconds=1)).flow_id)
        except FlowError as exc:
            reasons.append(exc.reason)
        except BaseException as exc:  # collected and asserted below
            unexpected.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert unexpected == []
    assert len(winners) == 1
    assert reasons == ["reused"] * 7


def test_finish_connected_and_failed(store: Store) -> None:
    ok_flow, ok_state = _begin(store)
    bad_flow, bad_state = _begin(store)
    oauth_flows.consume(store, ok_state, now=T0)
    oauth_flows.consume(store, bad_state, now=T0)
    oauth_flows.finish(store, ok_flow.flow_id, ok=True)
    oauth_flows.finish(
        store, bad_flow.flow_id, ok=False, error="TikTok said no; access_token=act.deadbeef0123456789deadbeef0123456789"
    )
    done = oauth_flows.get(store, ok_flow.flow_id)
    failed = oauth_flows.get(store, bad_flow.flow_id)
    assert done is not None
    assert (done.status, done.error) == ("connected", None)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith("TikTok said no")
    assert "deadbeef" not in failed.error


def test_finish_keeps_first_outcome_and_rejects_unknown(store: Store) -> None:
    flow, state = _begin(store)
    oauth_flows.consume(store, state, now=T0)
    oauth_flows.finish(store, flow.flow_id, ok=False, error="denied")
    oauth_flows.finish(store, flow.flow_id, ok=True)
    kept = oauth_flows.get(store, flow.flow_id)
    assert kept is not None
    assert (kept.status, kept.error) == ("failed", "denied")
    with pytest.raises(FlowError) as caught:
        oauth_flows.finish(store, "no-such-flow", ok=True)
    assert caught.value.reason == "unknown"


def test_get_unknown_is_none(store: Store) -> None:
    assert oauth_flows.get(store, "nope") is None


def test_purge_expired(store: Store) -> None:
    stale, _ = _begin(store, ttl=timedelta(minutes=1))
    fresh, _ = _begin(store, ttl=timedelta(hours=1))
    finished, finished_state = _begin(store, ttl=timedelta(minutes=1))
    oauth_flows.consume(store, finished_state, now=T0)
    oauth_flows.finish(store, finished.flow_id, ok=True)

    assert oauth_flows.purge_expired(store, now=T0 + timedelta(minutes=2)) == 0
    stale_now = oauth_flows.progress(oauth_flows.get(store, stale.flow_id), now=T0 + timedelta(minutes=2))
    assert stale_now.state == oauth_flows.EXPIRED  # shown as expired, not lost
    assert oauth_flows.get(store, fresh.flow_id) is not None
    assert oauth_flows.get(store, finished.flow_id) is not None  # the wizard may still be polling it

    assert oauth_flows.purge_expired(store, now=T0 + timedelta(days=2)) == 3
    assert oauth_flows.get(store, stale.flow_id) is None
    assert oauth_flows.get(store, finished.flow_id) is None


def test_naive_now_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        oauth_flows.begin(store, purpose="customer", initiator="a", now=datetime(2026, 1, 1))
