"""AppTest of the Connect wizard: deep link from Partners, live requirements with the seed's hints, the
dialog, the grant step, and the outcome the polling fragment reports (callback played over HTTP)."""

from __future__ import annotations

import pytest

from core.accounts import connection, partners
from core.connect import vault, workspace
from core.security import audit
from tests.support.connect import partner_no
from tests.support.pages import texts, through_dialog, wizard
from tests.support.sandbox import monitored_partners
from tests.support.services import ADMIN_ACTOR, authorize

HINTS = {
    "not_eligible": "You can only add a native partner in PartnerWatch if you have shared at least one asset",
    "guest": "invite the admin who will create the monitor account as a **Guest User** of your workspace",
    "isolate": "recommends your partner isolate your shared assets",
    "dedicated": "recommends creating a dedicated account in TikTok for Business",
    "monitor_setup": "set this account up with a PartnerWatch-managed email address and phone number, as well as",
}


@pytest.fixture
def svc(world):
    return world


def test_deep_link_preselects_partner_and_checks_requirements(svc, sandbox_session):
    info = monitored_partners(sandbox_session)[0]
    at = wizard(info.bc_id)
    assert not at.exception
    assert at.selectbox(key="pw_connect_partner").value == info.bc_id
    assert [h.value for h in at.header] == ["1. Choose partner", "2. Requirements", "3. Connect"]
    checks = texts(at.markdown)
    assert ":green[:material/check_circle:] A TikTok Business Center integration in PartnerWatch" in checks
    assert ":green[:material/check_circle:] A partner in TikTok for Business with shared access" in checks
    assert ":red[:material/cancel:] An admin from your partner's side has joined" in checks
    assert ":red[:material/cancel:] The monitor account's credentials shared with you" in checks
    notes = texts(at.info)
    for hint in ("isolate", "dedicated", "monitor_setup"):
        assert HINTS[hint] in notes
    assert HINTS["guest"] in texts(at.error)
    assert HINTS["not_eligible"] not in texts(at.error)
    assert not at.button(key="pw_open_connect").disabled
    assert at.button(key="pw_open_connect").label == "Connect your partner token"


def test_not_eligible_partner_shows_the_important_hint_and_cannot_continue(svc, sandbox_session):
    at = wizard(partner_no(sandbox_session, 1).bc_id)
    assert HINTS["not_eligible"] in texts(at.error)
    assert at.button(key="pw_open_connect").disabled


def test_requirements_turn_green_after_invite_and_vault_share_and_reveal_is_audited(svc, sandbox_session):
    info = monitored_partners(sandbox_session)[1]
    at = wizard(info.bc_id)
    next(t for t in at.text_input if t.label == "Guest user's e-mail").input("Partner.Admin@agency.example")
    at.button(key="FormSubmitter:pw_connect_invite-Invite guest user").click().run()
    assert ":green[:material/check_circle:] An admin from your partner's side has joined" not in texts(at.markdown)
    assert "invited, not signed in yet: partner.admin@agency.example" in texts(at.caption)
    workspace.mark_joined(svc.store, "partner.admin@agency.example")  # the guest signs in once
    at.run()
    assert ":green[:material/check_circle:] An admin from your partner's side has joined" in texts(at.markdown)
    assert "joined: partner.admin@agency.example" in texts(at.caption)
    vault.add(
        svc.store,
        svc.box,
        ADMIN_ACTOR,
        partner_bc_id=info.bc_id,
        email=info.monitor_email,
        phone="+15550100",
        password="sandbox-pass",
    )
    at.run()
    checks = texts(at.markdown)
    assert ":green[:material/check_circle:] An admin from your partner's side has joined" in checks
    assert ":green[:material/check_circle:] The monitor account's credentials shared with you" in checks
    reveal = next(b for b in at.button if b.label.startswith("Reveal"))
    reveal.click().run()
    assert [c.value for c in at.code] == [info.monitor_email, "+15550100", "sandbox-pass"]
    assert "ok" in list(audit.query(svc.store, action="vault.reveal", actor=ADMIN_ACTOR.email)["outcome"])


def test_dialog_then_grant_then_success_message(svc, sandbox_session):
    info = monitored_partners(sandbox_session)[2]
    at = through_dialog(wizard(info.bc_id))
    assert "Waiting for TikTok" in texts(at.caption)
    outcome = authorize(svc, sandbox_session, at.session_state["pw_connect_flow"], info.monitor_email)
    assert outcome.ok
    at.run()  # the polling fragment's next tick
    assert f"{partners.get(svc.store, info.bc_id).name} is connected" in texts(at.success)
    assert "Grant access to the PartnerWatch app" not in [s.value for s in at.subheader]
    assert at.button(key="pw_open_connect").label == "Reconnect your partner token"


def test_standard_monitor_account_ends_on_the_admin_role_message(svc, sandbox_session):
    info = partner_no(sandbox_session, 2)
    at = through_dialog(wizard(info.bc_id))
    assert not authorize(svc, sandbox_session, at.session_state["pw_connect_flow"], info.monitor_email).ok
    at.run()
    errors = texts(at.error)
    assert "**Not connected.**" in errors
    assert "the monitor account needs the Admin role" in errors
    assert partners.get(svc.store, info.bc_id).status == partners.PENDING_ONBOARDING


def test_reconnect_required_partner_is_offered_reconnect(svc, sandbox_session):
    info = monitored_partners(sandbox_session)[3]
    with svc.store.write() as cur:
        connection.token_rejected(cur, info.bc_id, "TikTok error 40105")
    at = wizard(info.bc_id)
    assert "Reconnect it with the monitor account" in texts(at.warning)
    assert at.button(key="pw_open_connect").label == "Reconnect your partner token"
    with svc.store.write() as cur:  # back to never connected, for the next tests of the module
        cur.execute("UPDATE partners SET connection = 'none', last_error = NULL WHERE bc_id = ?", [info.bc_id])
