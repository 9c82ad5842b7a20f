"""Helpers for tests of other modules: drive the sandbox portal over HTTP like a browser would.

    code = obtain_auth_code(sandbox.base_url, app_id, redirect_uri, "admin@acme.example", "sandbox-pass")

For a token without the portal, use `World.issue_token(user_email)`.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

_ACTION = re.compile(r'<form method="post" action="([^"]*)"')
_CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]*)"')
_ALERT = re.compile(r'role="alert">([^<]*)<')


class PortalFlowError(RuntimeError):
    """The portal did not lead to an auth code (bad app, bad redirect URI, wrong password, ...)."""


def _form_action(page: httpx.Response) -> str:
    """The page's form action; PortalFlowError with the page's alert (error) text if it shows one."""
    match, alert = _ACTION.search(page.text), _ALERT.search(page.text)
    if alert is not None:
        raise PortalFlowError(unescape(alert.group(1)))
    if page.status_code != 200 or match is None:
        raise PortalFlowError(f"unexpected page ({page.status_code})")
    return unescape(match.group(1))


def obtain_auth_code(
    base_url: str, app_id: str, redirect_uri: str, email: str, password: str, state: str = "s", timeout: float = 10.0
) -> str:
    """Logs in on the portal, confirms the consent page, returns the auth_code of the redirect."""
    query = urlencode({"app_id": app_id, "state": state, "redirect_uri": redirect_uri})
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=timeout) as client:
        login = client.get(f"/portal/auth?{query}")
        answer = client.post(_form_action(login), data={"email": email, "password": password})
        if answer.status_code != 303:
            _form_action(answer)  # raises with the page's error message
            raise PortalFlowError(f"login did not succeed ({answer.status_code})")
        consent = client.get(urljoin(base_url, answer.headers["location"]))
        csrf = _CSRF.search(consent.text)
        if csrf is None:
            raise PortalFlowError("no consent page after login")
        done = client.post(_form_action(consent), data={"csrf": unescape(csrf.group(1)), "decision": "confirm"})
    if done.status_code != 302:
        raise PortalFlowError(f"consent did not redirect ({done.status_code})")
    codes = parse_qs(urlsplit(done.headers["location"]).query).get("auth_code")
    if not codes:
        raise PortalFlowError("the redirect carries no auth_code")
    return codes[0]


_LOGGED_IN = re.compile(r"Logged in as ([^<]*)\. <a href=\"([^\"]*)\">Switch account</a>")


class PortalBrowser:
    """A browser on the portal that keeps its session cookie, so the next authorization offers Confirm as
    the account that logged in last (as TikTok does); `switch_account` follows the consent page's link.

        browser = PortalBrowser(base_url, app_id, redirect_uri)
        page = browser.open(state)                  # the login page, or the consent page when remembered
        page = browser.log_in(page, email, password)
        browser.logged_in_as(page)                  # "Name (e-mail)"
        code = browser.confirm(page)
    """

    def __init__(self, base_url: str, app_id: str, redirect_uri: str, timeout: float = 10.0) -> None:
        self.base_url, self.app_id, self.redirect_uri = base_url, app_id, redirect_uri
        self.client = httpx.Client(base_url=base_url, follow_redirects=True, timeout=timeout)

    def open(self, state: str) -> httpx.Response:
        query = urlencode({"app_id": self.app_id, "state": state, "redirect_uri": self.redirect_uri})
        return self.client.get(f"/portal/auth?{query}")

    def log_in(self, login_page: httpx.Response, email: str, password: str) -> httpx.Response:
        return self.client.post(_form_action(login_page), data={"email": email, "password": password})

    @staticmethod
    def logged_in_as(consent: httpx.Response) -> str | None:
        match = _LOGGED_IN.search(consent.text)
        return unescape(match.group(1)) if match else None

    def switch_account(self, consent: httpx.Response) -> httpx.Response:
        match = _LOGGED_IN.search(consent.text)
        if match is None:
            raise PortalFlowError("not a consent page with Switch account")
        return self.client.get(unescape(match.group(2)))

    def confirm(self, consent: httpx.Response) -> str:
        csrf = _CSRF.search(consent.text)
        if csrf is None:
            raise PortalFlowError("not a consent page")
        done = self.client.post(
            _form_action(consent), data={"csrf": unescape(csrf.group(1)), "decision": "confirm"}, follow_redirects=False
        )
        location: str = done.headers.get("location", "")
        codes = parse_qs(urlsplit(location).query).get("auth_code")
        if done.status_code != 302 or not codes:
            raise PortalFlowError(f"consent did not redirect with a code ({done.status_code})")
        return codes[0]

    def close(self) -> None:
        self.client.close()
