"""A partner's life: connect (token stored encrypted, first Check for updates), a token TikTok starts
rejecting (40105 → Reconnect required), reconnect, Disconnect token (revoked at TikTok, history kept),
and connecting again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import httpx
import pytest

from core.accounts import partners, tokens
from core.connect import connections, oauth_flows
from core.sync import check_for_updates
from core.tasks import jobs
from core.tasks.jobs import TRIGGER_CONNECT
from tests.support.sandbox import monitored_partners
from tests.support.services import ADMIN_ACTOR, connect_partner


def wait_all(svc) -> None:
    for task_id in jobs.list_tasks(svc.store)["id"]:
        svc.runner.wait(int(task_id), timeout=60)


def _stored_token(svc, bc_id: str) -> str | None:
    return tokens.load(svc.store, svc.box, partners.get(svc.store, bc_id).token_id)


def test_connect_stores_encrypted_token_and_starts_first_check(fresh, sandbox):
    info = monitored_partners(sandbox)[0]
    outcome = connect_partner(fresh, sandbox, info.bc_id, info.monitor_email)
    assert outcome.ok, outcome.message
    assert "is connected" in outcome.message
    partner = partners.get(fresh.store, info.bc_id)
    assert partner.status == partners.ONBOARDED
    token = _stored_token(fresh, info.bc_id)
    assert sandbox.world.token(token) is not None  # the very token TikTok issued
    with fresh.store.read() as cur:
        ciphertext = bytes(cur.execute("SELECT ciphertext FROM tokens WHERE id = ?", [partner.token_id]).fetchone()[0])
    assert token.encode() not in ciphertext
    assert oauth_flows.get(fresh.store, outcome.flow_id).status == oauth_flows.CONNECTED
    tasks = jobs.list_tasks(fresh.store)
    first = tasks[tasks["trigger"] == TRIGGER_CONNECT]
    assert list(first["target"]) == [partner.name]
    wait_all(fresh)
    assert jobs.list_tasks(fresh.store).iloc[0]["status"] == jobs.COMPLETED


@pytest.mark.slow
def test_40105_turns_partner_reconnect_required_then_reconnect(fresh, sandbox):
    info = monitored_partners(sandbox)[0]
    assert connect_partner(fresh, sandbox, info.bc_id, info.monitor_email).ok
    wait_all(fresh)
    revoked = httpx.post(
        f"{sandbox.base_url}/sandbox/control/tokens/revoke", json={"user_email": info.monitor_email}, timeout=10
    ).json()
    assert revoked["revoked"] == 1
    task_id = check_for_updates.request(fresh, actor=ADMIN_ACTOR, partner_bc_id=info.bc_id)
    assert fresh.runner.wait(task_id, timeout=60) == jobs.NOT_COMPLETED
    partner = partners.get(fresh.store, info.bc_id)
    assert partner.status == partners.RECONNECT_REQUIRED
    assert "40105" in partner.last_error
    # later syncs skip the dead token (nothing to read with it) and leave the status for the admin to see
    assert fresh.runner.wait(check_for_updates.request(fresh, actor=ADMIN_ACTOR), timeout=60) == jobs.COMPLETED
    assert partners.get(fresh.store, info.bc_id).status == partners.RECONNECT_REQUIRED
    other = monitored_partners(sandbox)[1]
    assert partners.get(fresh.store, other.bc_id).status == partners.PENDING_ONBOARDING  # not blamed

    assert connect_partner(fresh, sandbox, info.bc_id, info.monitor_email).ok  # the wizard's reconnect
    wait_all(fresh)
    assert partners.get(fresh.store, info.bc_id).status == partners.ONBOARDED


def test_disconnect_revokes_keeps_history_and_reconnect_works(fresh, sandbox):
    info = monitored_partners(sandbox)[0]
    assert connect_partner(fresh, sandbox, info.bc_id, info.monitor_email).ok
    wait_all(fresh)
    token = _stored_token(fresh, info.bc_id)
    now = datetime.now(UTC)
    with fresh.store.write() as cur:
        cur.execute(
            """INSERT INTO members (partner_bc_id, member_key, user_email, user_role, first_seen, last_seen)
                       VALUES (?, 'k1', 'someone@agency.example', 'ADMIN', ?, ?)""",
            [info.bc_id, now, now],
        )
    assets_before = partners.assets(fresh.store, info.bc_id)

    message = connections.disconnect_partner(fresh, ADMIN_ACTOR, info.bc_id)

    assert "Disconnected" in message
    assert sandbox.world.token(token) is None  # revoked at TikTok
    partner = partners.get(fresh.store, info.bc_id)
    assert partner.status == partners.DISCONNECTED
    assert partner.token_id is None
    with fresh.store.read() as cur:
        assert (
            cur.execute(
                "SELECT count(*) FROM tokens WHERE purpose = 'partner' AND revoked_at IS NULL AND bc_id = ?",
                [info.bc_id],
            ).fetchone()[0]
            == 0
        )
        member = cur.execute(
            "SELECT user_email, removed_at FROM members WHERE partner_bc_id = ? AND member_key = ?", [info.bc_id, "k1"]
        ).fetchone()
        current = cur.execute(
            "SELECT count(*) FROM members WHERE partner_bc_id = ? AND removed_at IS NULL", [info.bc_id]
        ).fetchone()[0]
        audit = cur.execute("SELECT outcome FROM audit_log WHERE action = 'disconnect.partner'").fetchall()
    assert member[0] == "someone@agency.example"  # kept,
    assert member[1] is not None  # not current
    assert current == 0
    assert audit == [("ok",)]
    assert partners.assets(fresh.store, info.bc_id).equals(assets_before)

    assert connect_partner(fresh, sandbox, info.bc_id, info.monitor_email).ok
    wait_all(fresh)
    assert partners.get(fresh.store, info.bc_id).status == partners.ONBOARDED
    assert sandbox.world.token(_stored_token(fresh, info.bc_id)) is not None


def test_disconnect_waits_for_a_running_check_for_updates(world, sandbox_session):
    info = monitored_partners(sandbox_session)[0]
    release = threading.Event()
    world.runner.handle(check_for_updates.TASK_KIND, lambda ctx: release.wait(10) and jobs.Counts())
    request = jobs.Request(
        check_for_updates.TASK_KIND,
        "All partners",
        ADMIN_ACTOR.email,
        jobs.TRIGGER_MANUAL,
        dedupe_key=check_for_updates.DEDUPE_KEY,
    )
    task_id = world.runner.enqueue(request).task_id
    try:
        with pytest.raises(connections.ConnectError, match="Check for updates is running"):
            connections.disconnect_partner(world, ADMIN_ACTOR, info.bc_id)
    finally:
        release.set()
        world.runner.wait(task_id, timeout=10)
    assert partners.get(world.store, info.bc_id).status == partners.PENDING_ONBOARDING
