"""The authorization portal over HTTP: validation, login, consent, Confirm and Cancel redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from sandbox.portal import COOKIE
from sandbox.testing import PortalFlowError, obtain_auth_code

APP_ID = "7100000000000000000"
REDIRECT = "http://localhost:8501/api/oauth/tiktok/callback"
QUERY = urlencode({"app_id": APP_ID, "state": "st@te 1", "redirect_uri": REDIRECT})


@pytest.fixture
def browser(sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, follow_redirects=False, timeout=10) as client:
        yield client


def _action(page: httpx.Response) -> str:
    return re.search(r'<form method="post" action="([^"]*)"', page.text).group(1).replace("&amp;", "&")


def _login(browser: httpx.Client, email: str = "admin@acme.example") -> httpx.Response:
    page = browser.get(f"/portal/auth?{QUERY}")
    answer = browser.post(_action(page), data={"email": email, "password": "sandbox-pass"})
    assert answer.status_code == 303
    return browser.get(answer.headers["location"])


def _csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', page.text).group(1)


def test_login_page_without_session(browser) -> None:
    page = browser.get(f"/portal/auth?{QUERY}")
    assert page.status_code == 200
    assert 'name="email"' in page.text
    assert 'name="password"' in page.text
    assert ">Log in</button>" in page.text
    assert _action(page) == f"/portal/login?{QUERY}"


def test_wrong_password_shows_an_error(browser) -> None:
    page = browser.get(f"/portal/auth?{QUERY}")
    answer = browser.post(_action(page), data={"email": "admin@acme.example", "password": "nope"})
    assert answer.status_code == 200
    assert "Incorrect email or password." in answer.text
    assert COOKIE not in answer.cookies


def test_unicode_password_is_just_wrong(browser) -> None:
    page = browser.get(f"/portal/auth?{QUERY}")
    answer = browser.post(_action(page), data={"email": "admin@acme.example", "password": "pässwörd"})
    assert answer.status_code == 200
    assert "Incorrect email or password." in answer.text


def test_login_sets_an_httponly_cookie_and_keeps_the_query(browser) -> None:
    page = browser.get(f"/portal/auth?{QUERY}")
    answer = browser.post(_action(page), data={"email": "admin@acme.example", "password": "sandbox-pass"})
    assert answer.headers["location"] == f"/portal/auth?{QUERY}"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in cookie.lower()


def test_consent_page_names_app_and_permissions(browser) -> None:
    page = _login(browser)
    assert "<title>App Authorization | TikTok For Business</title>" in page.text
    assert "PartnerWatch" in page.text
    for permission in ("Read Business Center", "Business Center Member Management", "Partner Management"):
        assert permission in page.text
    assert ">Confirm</button>" in page.text
    assert ">Cancel</button>" in page.text
    assert "admin@acme.example" in page.text


def test_confirm_redirects_with_auth_code_code_and_state(sandbox, browser) -> None:
    page = _login(browser)
    done = browser.post(_action(page), data={"csrf": _csrf(page), "decision": "confirm"})
    assert done.status_code == 302
    location = urlsplit(done.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    params = parse_qs(location.query)
    assert params["auth_code"] == params["code"]
    assert params["state"] == ["st@te 1"]
    user_id = sandbox.world.redeem_auth_code(APP_ID, params["auth_code"][0])
    assert user_id == sandbox.world.accounts["admin@acme.example"]


def test_cancel_redirects_with_access_denied(browser) -> None:
    page = _login(browser)
    done = browser.post(_action(page), data={"csrf": _csrf(page), "decision": "cancel"})
    assert done.status_code == 302
    params = parse_qs(urlsplit(done.headers["location"]).query)
    assert params == {"state": ["st@te 1"], "error": ["access_denied"]}


def test_consent_with_a_bad_csrf_is_refused(browser) -> None:
    page = _login(browser)
    for forged in ("forged", "fälscht"):
        done = browser.post(_action(page), data={"csrf": forged, "decision": "confirm"})
        assert done.status_code == 400
        assert "location" not in done.headers


@pytest.mark.parametrize(
    "query",
    [
        {"app_id": "7999999999999999999", "redirect_uri": REDIRECT},
        {"redirect_uri": REDIRECT},
        {"app_id": APP_ID, "redirect_uri": "http://evil.example/cb"},
        {"app_id": APP_ID, "redirect_uri": REDIRECT + "/"},
        {"app_id": APP_ID},
    ],
)
def test_invalid_app_or_redirect_uri_gives_an_error_page(browser, query) -> None:
    page = browser.get(f"/portal/auth?{urlencode(query)}")
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert "<form" not in page.text


def test_switch_account_logs_out_and_returns_to_the_login(browser) -> None:
    page = _login(browser)
    switch = re.search(r'href="([^"]*)">Switch account', page.text).group(1).replace("&amp;", "&")
    answer = browser.get(switch)
    assert answer.status_code == 303
    assert 'name="password"' in browser.get(answer.headers["location"]).text


def test_obtain_auth_code_helper(sandbox) -> None:
    code = obtain_auth_code(sandbox.base_url, APP_ID, REDIRECT, "analyst@acme.example", "sandbox-pass")
    assert sandbox.world.redeem_auth_code(APP_ID, code) == sandbox.world.accounts["analyst@acme.example"]
    with pytest.raises(PortalFlowError, match="Incorrect email or password"):
        obtain_auth_code(sandbox.base_url, APP_ID, REDIRECT, "analyst@acme.example", "wrong")
    with pytest.raises(PortalFlowError, match="redirect_uri"):
        obtain_auth_code(sandbox.base_url, APP_ID, "http://elsewhere.example/", "analyst@acme.example", "x")


def test_pending_invitees_cannot_log_in(sandbox) -> None:
    with pytest.raises(PortalFlowError):
        obtain_auth_code(sandbox.base_url, APP_ID, REDIRECT, "new.hire@acme.example", "sandbox-pass")
