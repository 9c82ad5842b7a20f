"""Attacks on the OAuth callback route (Starlette TestClient on the app's routes): missing, forged, reused,
expired and cross-user `state`, a demoted initiator, redirect URI tampering and code replay are each
refused with a clear message, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.accounts import integration
from core.connect import connections, oauth_flows, workspace
from core.security import audit
from core.security.roles import ADMIN, ANALYST
from core.services import Services, install
from sandbox.testing import PortalFlowError, obtain_auth_code
from tests.support.services import ADMIN_ACTOR, CUSTOMER_ADMIN, PASSWORD, make_services
from ui.routes import ROUTES

REDIRECT = "http://testserver/api/oauth/tiktok/callback"


@pytest.fixture
def svc(tmp_path, sandbox):
    services = make_services(tmp_path, sandbox, PW_REDIRECT_URI=REDIRECT)
    workspace.sandbox_users(services.store)
    yield services
    install(None)
    services.close()


def _browser() -> TestClient:
    return TestClient(Starlette(routes=ROUTES), follow_redirects=False)


def _stored(svc: Services) -> tuple[int, bool]:
    with svc.store.read() as cur:
        count = cur.execute("SELECT count(*) FROM tokens WHERE octet_length(ciphertext) > 0").fetchone()[0]
    return int(count), integration.get(svc.store) is not None


def _start(svc: Services, browser: TestClient) -> str:
    """An admin starts a connection in `browser`; returns the state (the pop-up's start route sets the cookie)."""
    started = connections.start(svc, ADMIN_ACTOR, purpose=connections.CUSTOMER)
    assert browser.get(started.start_url).status_code == 302
    return parse_qs(urlparse(started.start_url).query)["state"][0]


def _code(svc: Services, sandbox, state: str) -> str:
    return obtain_auth_code(sandbox.base_url, svc.settings.app_id, REDIRECT, CUSTOMER_ADMIN, PASSWORD, state)


def _callback(browser: TestClient, **params: str):
    return browser.get(f"{connections.CALLBACK_PATH}?{urlencode(params)}")


def _refused(response, message: str) -> None:
    assert response.status_code == 400
    assert message in response.text
    assert response.headers["cache-control"] == "no-store"


def test_missing_and_forged_state_are_refused(svc, sandbox):
    browser = _browser()
    _refused(_callback(browser, code="abc"), "no state parameter")
    _refused(_callback(browser, code="abc", state="forged-" + "x" * 40), "not one PartnerWatch issued")
    assert _stored(svc) == (0, False)
    assert set(audit.query(svc.store, action="oauth.callback")["outcome"]) == {"refused"}


def test_reused_state_and_replayed_code_are_refused(svc, sandbox):
    browser = _browser()
    state = _start(svc, browser)
    code = _code(svc, sandbox, state)
    ok = _callback(browser, auth_code=code, code=code, state=state)
    assert ok.status_code == 200
    assert "Connected" in ok.text
    assert code not in ok.text
    assert state not in ok.text
    first = integration.get(svc.store).token_id
    _refused(_callback(browser, auth_code=code, code=code, state=state), "already been used")
    state2 = _start(svc, browser)
    _refused(_callback(browser, auth_code=code, code=code, state=state2), "already used or has expired")
    assert _stored(svc) == (1, True)
    assert integration.get(svc.store).token_id == first


def test_expired_state_is_refused(svc, sandbox):
    _, state = oauth_flows.begin(
        svc.store,
        purpose=connections.CUSTOMER,
        initiator=ADMIN_ACTOR.email,
        now=datetime.now(UTC) - timedelta(minutes=11),
    )
    _refused(_callback(_browser(), auth_code="x", state=state), "has expired")
    assert _stored(svc) == (0, False)


def test_state_presented_from_another_browser_is_refused_and_burnt(svc, sandbox):
    victim, attacker = _browser(), _browser()
    state = _start(svc, victim)
    code = _code(svc, sandbox, state)
    _refused(_callback(attacker, auth_code=code, state=state), "started in another browser")
    _refused(_callback(victim, auth_code=code, state=state), "already been used")
    assert _stored(svc) == (0, False)


def test_flow_started_by_a_user_who_is_no_longer_admin_is_refused(svc, sandbox):
    browser = _browser()
    state = _start(svc, browser)
    code = _code(svc, sandbox, state)
    workspace.invite(svc.store, ADMIN_ACTOR, "boss@partnerwatch.local", ADMIN)
    workspace.invite(svc.store, ADMIN_ACTOR, ADMIN_ACTOR.email, ANALYST)  # demoted while TikTok was open
    _refused(_callback(browser, auth_code=code, state=state), "no longer an admin")
    assert _stored(svc) == (0, False)


def test_redirect_uri_tampering_is_ignored_or_refused(svc, sandbox):
    started = connections.start(svc, ADMIN_ACTOR, purpose=connections.CUSTOMER)
    state = parse_qs(urlparse(started.start_url).query)["state"][0]
    tampered = f"{started.start_url}&{urlencode({'redirect_uri': 'https://evil.example/cb'})}"
    location = _browser().get(tampered).headers["location"]
    assert parse_qs(urlparse(location).query)["redirect_uri"] == [REDIRECT]
    with pytest.raises(PortalFlowError):  # TikTok (the sandbox) only redirects to the registered URI
        obtain_auth_code(
            sandbox.base_url, svc.settings.app_id, "https://evil.example/cb", CUSTOMER_ADMIN, PASSWORD, state
        )
    assert _stored(svc) == (0, False)
