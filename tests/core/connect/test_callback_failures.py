"""`finish_callback` for every failure path of the partner connect: each ends on a clear message, the
flow `failed` (when there is one), and nothing stored: no token, no status change, no sync started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.accounts import partners
from core.connect import connections, oauth_flows
from core.connect.oauth import exchange_code
from core.security.roles import ADMIN, Actor
from core.services import Services
from tests.support.connect import callback, code_for, partner_no, snapshot, start_for, state_of, with_settings
from tests.support.sandbox import monitored_partners
from tests.support.services import ADMIN_ACTOR, CUSTOMER_ADMIN


@pytest.fixture
def before(world: Services) -> tuple:
    return snapshot(world)


def assert_failed(
    svc: Services, started: connections.Started | None, outcome: connections.Outcome, before: tuple, *phrases: str
) -> None:
    assert not outcome.ok
    for phrase in phrases:
        assert phrase in outcome.message
    if started is not None:
        flow = oauth_flows.get(svc.store, started.flow.flow_id)
        assert flow.status in (oauth_flows.FAILED, oauth_flows.PENDING)
    assert snapshot(svc) == before


def test_consent_cancelled(world, sandbox_session, before):
    started = start_for(world, monitored_partners(sandbox_session)[0])
    outcome = callback(world, started, {"state": state_of(started), "error": "access_denied"})
    assert_failed(world, started, outcome, before, "You cancelled the authorization on TikTok")
    assert oauth_flows.get(world.store, started.flow.flow_id).status == oauth_flows.FAILED


def test_state_missing(world, sandbox_session, before):
    started = start_for(world, monitored_partners(sandbox_session)[0])
    code = code_for(world, sandbox_session, monitored_partners(sandbox_session)[0].monitor_email, "x")
    binding = connections.binding_for(world, started.flow.flow_id)
    outcome = connections.finish_callback(world, {"auth_code": code}, binding)
    assert_failed(world, None, outcome, before, "no state parameter")
    assert oauth_flows.get(world.store, started.flow.flow_id).status == oauth_flows.PENDING  # untouched


def test_state_unknown(world, sandbox_session, before):
    info = monitored_partners(sandbox_session)[0]
    code = code_for(world, sandbox_session, info.monitor_email, "forged-state")
    outcome = connections.finish_callback(world, {"auth_code": code, "state": "forged-state"}, "any-binding")
    assert_failed(world, None, outcome, before, "not one PartnerWatch issued")


def test_state_reused(world, sandbox_session, before):
    info = monitored_partners(sandbox_session)[0]
    started = start_for(world, info)
    first = callback(world, started, {"state": state_of(started), "error": "access_denied"})
    assert not first.ok
    code = code_for(world, sandbox_session, info.monitor_email, state_of(started))
    outcome = callback(world, started, {"auth_code": code, "code": code, "state": state_of(started)})
    assert_failed(world, started, outcome, before, "already been used")


def test_state_expired(world, sandbox_session, before):
    info = monitored_partners(sandbox_session)[0]
    flow, state = oauth_flows.begin(
        world.store,
        purpose=connections.PARTNER,
        initiator=ADMIN_ACTOR.email,
        partner_bc_id=info.bc_id,
        now=datetime.now(UTC) - timedelta(minutes=11),
    )
    code = code_for(world, sandbox_session, info.monitor_email, state)
    outcome = connections.finish_callback(
        world, {"auth_code": code, "state": state}, connections.binding_for(world, flow.flow_id)
    )
    assert_failed(world, None, outcome, before, "expired")
    assert oauth_flows.get(world.store, flow.flow_id).status == oauth_flows.PENDING  # never redeemed


def test_callback_for_a_different_partner(world, sandbox_session, before):
    """Started for partner A, but TikTok sends back the grant of partner B's monitor account (Admin on B)."""
    wanted, other = monitored_partners(sandbox_session)[:2]
    started = start_for(world, wanted)
    code = code_for(world, sandbox_session, other.monitor_email, state_of(started))
    outcome = callback(world, started, {"auth_code": code, "state": state_of(started)})
    assert_failed(world, started, outcome, before, "not a member of", wanted.bc_id, "monitor account")
    assert partners.get(world.store, other.bc_id).token_id is None


def test_token_that_cannot_see_the_partner_bc(world, sandbox_session, before):
    info = monitored_partners(sandbox_session)[0]
    started = start_for(world, info)
    code = code_for(world, sandbox_session, CUSTOMER_ADMIN, state_of(started))
    outcome = callback(world, started, {"auth_code": code, "state": state_of(started)})
    assert_failed(world, started, outcome, before, "not a member of", "Sign in with the partner's monitor account")


def test_standard_monitor_account_is_refused(world, sandbox_session, before):
    info = partner_no(sandbox_session, 2)
    assert info.monitor_role == "STANDARD"
    assert info.eligible
    started = start_for(world, info)
    code = code_for(world, sandbox_session, info.monitor_email, state_of(started))
    outcome = callback(world, started, {"auth_code": code, "code": code, "state": state_of(started)})
    assert_failed(world, started, outcome, before, "the monitor account needs the Admin role")


def test_auth_code_already_used_40110(world, sandbox_session, before):
    info = monitored_partners(sandbox_session)[0]
    started = start_for(world, info)
    code = code_for(world, sandbox_session, info.monitor_email, state_of(started))
    s = world.settings
    exchange_code(
        api_base_url=s.api_base_url,
        app_id=s.app_id,
        app_secret=s.app_secret,
        auth_code=code,
        redirect_uri=s.redirect_uri,
    )  # someone else redeemed it first
    outcome = callback(world, started, {"auth_code": code, "state": state_of(started)})
    assert_failed(world, started, outcome, before, "40110", "already used or has expired")


def test_wrong_app_secret_40101(world, sandbox_session, before):
    wrong = with_settings(world, app_secret="not-the-sandbox-secret")
    info = monitored_partners(sandbox_session)[0]
    started = start_for(wrong, info)
    code = code_for(wrong, sandbox_session, info.monitor_email, state_of(started))
    outcome = callback(wrong, started, {"auth_code": code, "state": state_of(started)})
    assert_failed(wrong, started, outcome, before, "40101", "app id and secret")


def test_sandbox_down(world, sandbox_session, before):
    down = with_settings(world, api_base_url="http://127.0.0.1:9/open_api/v1.3/", http_timeout_s=2)
    info = monitored_partners(sandbox_session)[0]
    started = start_for(down, info)
    code = code_for(down, sandbox_session, info.monitor_email, state_of(started))
    outcome = callback(down, started, {"auth_code": code, "state": state_of(started)})
    assert_failed(down, started, outcome, before, "TikTok could not be reached", "try again")


def test_other_browser_is_refused(world, sandbox_session, before):
    info = monitored_partners(sandbox_session)[0]
    started = start_for(world, info)
    code = code_for(world, sandbox_session, info.monitor_email, state_of(started))
    outcome = connections.finish_callback(world, {"auth_code": code, "state": state_of(started)}, "stolen")
    assert_failed(world, started, outcome, before, "another browser")


def test_start_refuses_not_eligible_and_non_admins(world, sandbox_session, before):
    with pytest.raises(connections.ConnectError, match="Not eligible"):
        start_for(world, partner_no(sandbox_session, 1))
    with pytest.raises(PermissionError):
        connections.start(
            world,
            Actor("analyst@partnerwatch.local", "analyst"),
            purpose=connections.PARTNER,
            partner_bc_id=monitored_partners(sandbox_session)[0].bc_id,
        )
    with pytest.raises(PermissionError):
        connections.disconnect_partner(
            world, Actor("analyst@partnerwatch.local", "analyst"), monitored_partners(sandbox_session)[0].bc_id
        )
    assert snapshot(world) == before
    assert ADMIN_ACTOR.role == ADMIN
