"""Issue 12, items 1-3: the OAuth return cannot crash or hang, a refusal leaves nothing at TikTok, and the
wrong TikTok account in the pop-up is named, with the way to switch, before and after.

The callback runs for real against the session's sandbox; the wizard and Settings are AppTests."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import streamlit as st
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from core.accounts import partners, tokens
from core.connect import connections, oauth_flows, workspace
from core.security import audit
from core.services import install
from core.sync import check_for_updates
from core.tiktok.client import TikTokClient
from sandbox.oauth import mask_email
from sandbox.testing import PortalBrowser, obtain_auth_code
from tests.support.connect import callback, code_for, partner_no, snapshot, start_for, state_of
from tests.support.pages import texts, through_dialog, wizard
from tests.support.sandbox import monitored_partners
from tests.support.services import ADMIN_ACTOR, CUSTOMER_ADMIN, PASSWORD, authorize, make_services
from ui.routes import ROUTES

REFERENCE = re.compile(r"reference (PW-[0-9A-F]{8})")
REDIRECT = "http://testserver/api/oauth/tiktok/callback"


@pytest.fixture
def ws(world):
    """The module's synced workspace, installed for the pages (a test with its own services replaced it)."""
    install(world)
    st.cache_resource.clear()
    return world


@pytest.fixture
def issued(monkeypatch) -> list[str]:
    """The access tokens TikTok issued to the callbacks of this test (a spy on the code exchange)."""
    seen: list[str] = []
    real = connections._exchange

    def spy(services, code):
        grant = real(services, code)
        seen.append(grant.access_token)
        return grant

    monkeypatch.setattr(connections, "_exchange", spy)
    return seen


def revoked_at_tiktok(sandbox, token: str) -> bool:
    """The sandbox's own API answers 40105 (invalid token) for it."""
    answer = httpx.get(f"{sandbox.api_base_url}bc/get/", headers={"Access-Token": token}, timeout=10).json()
    return answer["code"] == 40105 and sandbox.world.token(token) is None


def account_of(sandbox, email: str) -> str:
    name, _ = sandbox.world.account(sandbox.world.user_id(email))
    return f"{name} ({mask_email(email)})"


# -- 1. an unexpected error fails the flow with a reference, audited, shown -------------------------------


def test_unexpected_error_in_the_callback_route_fails_the_flow_with_a_reference(
    tmp_path, sandbox, monkeypatch, issued, caplog
):
    """The failure of issue 12 (httpcore not importable in the callback's thread), through the HTTP route:
    the pop-up answers a page with a reference, not a 500; the flow is failed with it; the audit log and
    the server log carry it; Settings shows it instead of waiting; and the token TikTok issued is revoked."""
    svc = make_services(tmp_path, sandbox, PW_REDIRECT_URI=REDIRECT)
    workspace.sandbox_users(svc.store)
    at = AppTest.from_file("../../../ui/shell.py", default_timeout=30).run()
    at.switch_page("../pages/settings.py").run()
    at.button(key="start_customer_connect").click().run()
    started: connections.Started = at.session_state["pw_customer_flow"]
    assert "Waiting for TikTok" in texts(at.caption)

    async def no_transport(self):
        raise ModuleNotFoundError("No module named 'httpcore'")

    monkeypatch.setattr(TikTokClient, "__aenter__", no_transport)
    browser = TestClient(Starlette(routes=ROUTES), follow_redirects=False, raise_server_exceptions=True)
    assert browser.get(started.start_url).status_code == 302  # binds the flow to this browser
    state = state_of(started)
    code = obtain_auth_code(sandbox.base_url, svc.settings.app_id, REDIRECT, CUSTOMER_ADMIN, PASSWORD, state)
    with caplog.at_level("ERROR", logger="core.connect.connections"):
        page = browser.get(f"{connections.CALLBACK_PATH}?auth_code={code}&state={state}")

    assert page.status_code == 400
    ref = REFERENCE.search(page.text).group(1)
    flow = oauth_flows.get(svc.store, started.flow.flow_id)
    assert flow.status == oauth_flows.FAILED
    assert ref in flow.error
    row = audit.query(svc.store, action="connect.customer").iloc[0]
    assert (row["outcome"], row["actor"]) == ("failed", ADMIN_ACTOR.email)
    assert ref in row["detail"]
    assert "ModuleNotFoundError" in row["detail"]
    logged = [r for r in caplog.records if ref in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
    assert revoked_at_tiktok(sandbox, issued[0])

    at.run()
    assert "Waiting for TikTok" not in texts(at.caption)
    assert ref in texts(at.error)
    install(None)
    svc.close()


def test_unexpected_error_in_the_partner_callback_shows_in_the_wizard(ws, sandbox_session, monkeypatch, issued):
    info = monitored_partners(sandbox_session)[0]
    before = snapshot(ws)
    at = through_dialog(wizard(info.bc_id))

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(tokens, "save", disk_full)
    outcome = authorize(ws, sandbox_session, at.session_state["pw_connect_flow"], info.monitor_email)

    assert not outcome.ok
    ref = REFERENCE.search(outcome.message).group(1)
    flow = oauth_flows.get(ws.store, outcome.flow_id)
    assert (flow.status, ref in flow.error) == (oauth_flows.FAILED, True)
    row = audit.query(ws.store, action="connect.partner").iloc[0]
    assert (row["outcome"], row["target"], ref in row["detail"]) == ("failed", info.bc_id, True)
    assert snapshot(ws) == before
    assert revoked_at_tiktok(sandbox_session, issued[0])
    at.run()
    errors = texts(at.error)
    assert "**Not connected.**" in errors
    assert ref in errors
    assert "Waiting for TikTok" not in texts(at.caption)


# -- 1. a flow that can no longer finish shows as expired, never as waiting ------------------------------


def _age(svc, flow_id: str, **columns: object) -> None:
    sets = ", ".join(f"{name} = ?" for name in columns)
    with svc.store.write() as cur:
        cur.execute(f"UPDATE oauth_flows SET {sets} WHERE flow_id = ?", [*columns.values(), flow_id])


def test_pending_flow_past_expiry_shows_expired_in_settings(tmp_path, sandbox):
    svc = make_services(tmp_path, sandbox)
    workspace.sandbox_users(svc.store)
    at = AppTest.from_file("../../../ui/shell.py", default_timeout=30).run()
    at.switch_page("../pages/settings.py").run()
    at.button(key="start_customer_connect").click().run()
    assert "Waiting for TikTok" in texts(at.caption)
    _age(svc, at.session_state["pw_customer_flow"].flow.flow_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    at.run()
    assert "Waiting for TikTok" not in texts(at.caption)
    assert "This authorization expired" in texts(at.error)
    install(None)
    svc.close()


@pytest.mark.parametrize("stuck", ["pending past expiry", "exchanging for 3 minutes"])
def test_flow_that_cannot_finish_shows_expired_in_the_wizard(ws, sandbox_session, stuck):
    info = monitored_partners(sandbox_session)[1]
    at = through_dialog(wizard(info.bc_id))
    flow_id = at.session_state["pw_connect_flow"].flow.flow_id
    now = datetime.now(UTC)
    if stuck == "pending past expiry":
        _age(ws, flow_id, expires_at=now - timedelta(seconds=1))
    else:  # the callback's thread died mid-exchange (a restart): the flow stays `exchanging`
        _age(ws, flow_id, status=oauth_flows.EXCHANGING, consumed_at=now - timedelta(minutes=3))
    at.run()
    assert "Waiting for TikTok" not in texts(at.caption)
    errors = texts(at.error)
    assert "**Not connected.**" in errors
    assert "expired" in errors or "did not finish" in errors
    assert "Grant access to the PartnerWatch app" not in [s.value for s in at.subheader]


def test_progress_of_each_state():
    now = datetime.now(UTC)
    flow = oauth_flows.Flow(
        "f", "partner", "1", "a@b", None, oauth_flows.PENDING, None, now, now + timedelta(minutes=10)
    )
    assert oauth_flows.progress(flow, now=now).state == oauth_flows.WAITING
    assert oauth_flows.progress(flow, now=now + timedelta(minutes=10)).state == oauth_flows.EXPIRED
    exchanging = dataclasses.replace(flow, status=oauth_flows.EXCHANGING, consumed_at=now)
    assert oauth_flows.progress(exchanging, now=now + timedelta(minutes=1)).state == oauth_flows.WAITING
    assert oauth_flows.progress(exchanging, now=now + timedelta(minutes=2)).state == oauth_flows.EXPIRED
    failed = dataclasses.replace(flow, status=oauth_flows.FAILED, error="TikTok said no")
    assert oauth_flows.progress(failed) == oauth_flows.Progress(oauth_flows.FAILED, "TikTok said no")
    assert oauth_flows.progress(None).state == oauth_flows.FAILED


# -- 2. a refusal revokes at TikTok the token it obtained -------------------------------------------------


@pytest.mark.parametrize("case", ["another partner's monitor", "the customer's admin", "a Standard monitor"])
def test_refusal_revokes_the_token_at_tiktok(ws, sandbox_session, issued, case):
    wanted, other = monitored_partners(sandbox_session)[:2]
    info, email = {
        "another partner's monitor": (wanted, other.monitor_email),
        "the customer's admin": (wanted, CUSTOMER_ADMIN),
        "a Standard monitor": (partner_no(sandbox_session, 2), partner_no(sandbox_session, 2).monitor_email),
    }[case]
    before = snapshot(ws)
    started = start_for(ws, info)
    outcome = callback(
        ws, started, {"auth_code": code_for(ws, sandbox_session, email, state_of(started)), "state": state_of(started)}
    )
    assert not outcome.ok
    assert "PartnerWatch revoked at TikTok the token this attempt obtained" in outcome.message
    assert len(issued) == 1
    assert revoked_at_tiktok(sandbox_session, issued[0])
    assert snapshot(ws) == before


def test_refusal_keeps_a_token_partnerwatch_already_uses(fresh, sandbox, monkeypatch):
    """Should TikTok hand out the customer integration's own token again, refusing it must not break the
    integration."""
    from core.accounts import integration

    install(fresh)
    customer_token = integration.access_token(fresh.store, fresh.box)
    grant = type("Grant", (), {"access_token": customer_token})()
    monkeypatch.setattr(connections, "_exchange", lambda services, code: grant)
    started = start_for(fresh, monitored_partners(sandbox)[0])
    outcome = callback(fresh, started, {"auth_code": "any", "state": state_of(started)})
    assert "a token PartnerWatch already uses, so it was kept" in outcome.message
    assert sandbox.world.token(customer_token) is not None


# -- 3. the wrong account in the pop-up: named, with the way to switch, and the switch works ---------------


def test_wrong_account_is_named_then_switch_account_in_the_portal_succeeds(ws, sandbox_session):
    info = monitored_partners(sandbox_session)[3]
    admin = account_of(sandbox_session, CUSTOMER_ADMIN)
    browser = PortalBrowser(sandbox_session.base_url, ws.settings.app_id, ws.settings.redirect_uri)
    at = through_dialog(wizard(info.bc_id))

    # First attempt: the browser's TikTok session is the customer's admin (as after connecting the customer BC).
    started = at.session_state["pw_connect_flow"]
    consent = browser.log_in(browser.open(state_of(started)), CUSTOMER_ADMIN, PASSWORD)
    outcome = callback(ws, started, {"auth_code": browser.confirm(consent), "state": state_of(started)})
    assert not outcome.ok
    assert f"TikTok signed in as {admin}, which is not a member of" in outcome.message
    assert "click Switch account" in outcome.message
    at.run()
    errors = texts(at.error)
    assert "Avery Chen (a\\*\\*\\*n@acme.example), which is not a member of" in errors
    assert "log in as the partner's monitor account" in errors

    # Second attempt: before Next, the wizard names the account TikTok will offer and how to switch.
    at = through_dialog(at)
    hint = texts(at.warning)
    assert "**Avery Chen (a\\*\\*\\*n@acme.example)**" in hint
    assert "click **Switch account** on the App Authorization page" in hint
    started = at.session_state["pw_connect_flow"]
    consent = browser.open(state_of(started))  # TikTok remembers the last login: Confirm as the admin
    assert browser.logged_in_as(consent) == f"Avery Chen ({CUSTOMER_ADMIN})"
    login = browser.switch_account(consent)
    assert "<h1>Log in</h1>" in login.text
    consent = browser.log_in(login, info.monitor_email, PASSWORD)
    assert browser.logged_in_as(consent).endswith(f"({info.monitor_email})")
    outcome = callback(ws, started, {"auth_code": browser.confirm(consent), "state": state_of(started)})
    assert outcome.ok, outcome.message
    at.run()
    assert f"{partners.get(ws.store, info.bc_id).name} is connected" in texts(at.success)
    browser.close()
    # the first Check for updates, before the module's store closes
    task_id = ws.runner.active_task(check_for_updates.DEDUPE_KEY)
    if task_id is not None:
        ws.runner.wait(task_id, timeout=60)
