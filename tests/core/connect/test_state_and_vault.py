"""The single-use state store as the wizard uses it, and the credential vault's rules."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from core.connect import connections, oauth_flows, vault, workspace
from core.security import audit
from core.security.roles import ANALYST, GUEST, Actor, NotAllowed
from tests.support.connect import state_of
from tests.support.sandbox import monitored_partners
from tests.support.services import ADMIN_ACTOR


def test_start_mints_a_fresh_state_bound_to_partner_and_user(world, sandbox_session):
    info = monitored_partners(sandbox_session)[0]
    first = connections.start(world, ADMIN_ACTOR, purpose=connections.PARTNER, partner_bc_id=info.bc_id)
    second = connections.start(world, ADMIN_ACTOR, purpose=connections.PARTNER, partner_bc_id=info.bc_id)
    assert state_of(first) != state_of(second)
    flow = first.flow
    assert (flow.partner_bc_id, flow.initiator, flow.status) == (info.bc_id, ADMIN_ACTOR.email, oauth_flows.PENDING)
    assert flow.expires_at - flow.created_at == timedelta(minutes=10)
    with world.store.read() as cur:
        stored = cur.execute("SELECT count(*) FROM oauth_flows WHERE state_hash = ?", [state_of(first)]).fetchone()
    assert stored[0] == 0  # only the hash is kept


def test_state_redeemed_once_even_when_raced(store):
    _flow, state = oauth_flows.begin(store, purpose="partner", initiator="a@x.example", partner_bc_id="1")
    wins, errors = [], []

    def redeem() -> None:
        try:
            wins.append(oauth_flows.consume(store, state))
        except oauth_flows.FlowError as exc:
            errors.append(exc.reason)

    threads = [threading.Thread(target=redeem) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert errors == ["reused"] * 5


def test_state_expires_after_ten_minutes(store):
    now = datetime.now(UTC)
    _flow, state = oauth_flows.begin(store, purpose="partner", initiator="a@x.example", now=now)
    assert oauth_flows.peek(store, state, now=now + timedelta(minutes=9, seconds=59)).status == oauth_flows.PENDING
    with pytest.raises(oauth_flows.FlowError) as err:
        oauth_flows.consume(store, state, now=now + timedelta(minutes=10))
    assert err.value.reason == "expired"


def test_vault_add_share_reveal_delete_with_audit(store, tmp_path):
    from core.security.crypto import SecretBox

    box = SecretBox([SecretBox.generate_key()])
    workspace.upsert(store, "analyst@x.example", ANALYST)
    workspace.upsert(store, "guest@agency.example", GUEST, partner_bc_id="77")
    guest = Actor("guest@agency.example", GUEST)
    analyst = Actor("analyst@x.example", ANALYST)

    item = vault.add(
        store, box, guest, partner_bc_id="77", email="monitor@agency.example", phone="+15550100", password="s3cret-pass"
    )
    assert item.shared_with == ("guest@agency.example",)
    assert item.email_hint == "mo…@agency.example"
    with store.read() as cur:
        blob = b"".join(
            bytes(v) for v in cur.execute("SELECT email_ct || phone_ct || password_ct FROM vault_items").fetchone()
        )
    assert b"s3cret-pass" not in blob
    assert b"monitor@agency.example" not in blob

    with pytest.raises(NotAllowed):
        vault.reveal(store, box, analyst, item.id)
    vault.share(store, guest, item.id, "analyst@x.example")
    assert vault.reveal(store, box, analyst, item.id) == vault.Credentials(
        "monitor@agency.example", "+15550100", "s3cret-pass"
    )
    assert [i.id for i in vault.shared_with(store, "analyst@x.example", "77")] == [item.id]
    reveals = audit.query(store, action="vault.reveal")
    assert list(reveals["outcome"]) == ["ok", "refused"]
    assert list(reveals["actor"]) == ["analyst@x.example"] * 2

    with pytest.raises(vault.VaultError, match="invite them first"):
        vault.share(store, guest, item.id, "stranger@x.example")
    with pytest.raises(NotAllowed):
        vault.add(
            store,
            box,
            Actor("guest@agency.example", GUEST),
            partner_bc_id="78",
            email="m@o.example",
            phone="",
            password="x",
        )
    with pytest.raises(NotAllowed):
        vault.delete(store, analyst, item.id)
    vault.delete(store, ADMIN_ACTOR, item.id)
    assert vault.list_items(store) == []
    with pytest.raises(vault.VaultError):
        vault.reveal(store, box, ADMIN_ACTOR, item.id)


def test_invite_is_admin_only_and_guests_belong_to_a_partner(store):
    with pytest.raises(NotAllowed):
        workspace.invite(store, Actor("analyst@x.example", ANALYST), "g@agency.example", GUEST, partner_bc_id="7")
    with pytest.raises(ValueError, match="choose the partner"):
        workspace.invite(store, ADMIN_ACTOR, "g@agency.example", GUEST)
    user = workspace.invite(store, ADMIN_ACTOR, "G@Agency.example", GUEST, partner_bc_id="7")
    assert (user.email, user.role, user.partner_bc_id) == ("g@agency.example", GUEST, "7")
    workspace.upsert(store, ADMIN_ACTOR.email, "admin")
    with pytest.raises(ValueError, match="last admin"):
        workspace.invite(store, ADMIN_ACTOR, ADMIN_ACTOR.email, ANALYST)
    assert list(audit.query(store, action="workspace.invite")["target"]) == ["g@agency.example"]
