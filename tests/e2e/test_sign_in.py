"""The production sign-in for real: `st.login` in Chromium against an OpenID Connect issuer on 127.0.0.1
(oidc-provider-mock), with the app in live mode (TikTok credentials configured, roles from PW_ROLE_*).

The issuer's authorization page asks for a subject; the mock puts it in the `email` claim, so typing an
e-mail address signs in as that person.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator

import pytest
import werkzeug.serving
from oidc_provider_mock import app as oidc_app
from playwright.sync_api import Page, expect

from core.security.crypto import SecretBox
from tests.support.browser import RunningApp, free_port, start_app, stop_app, wait_for_app

ADMIN, ANALYST, STRANGER = "boss@acme.example", "bob@acme.example", "eve@evil.example"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    """A real OIDC issuer (discovery, authorize, token, JWKS, userinfo, end_session) on 127.0.0.1."""
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_app(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("live")
    port = free_port()
    public = f"http://localhost:{port}"
    secrets_file = tmp / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{public}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "partnerwatch-tests"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    app = start_app(
        tmp,
        port=port,
        args=("--secrets.files", str(secrets_file)),
        PW_TIKTOK_APP_ID="7300000000000000001",
        PW_TIKTOK_APP_SECRET="live-secret-for-tests",
        PW_TIKTOK_API_BASE=f"{issuer}/no-tiktok-here/",
        PW_ENCRYPTION_KEYS=SecretBox.generate_key(),
        PW_PUBLIC_URL=public,
        PW_ROLE_ADMINS=ADMIN,
        PW_ROLE_ANALYSTS="@acme.example",
    )
    yield app
    stop_app(app)


@pytest.fixture
def offline(page: Page) -> Page:
    """The mock's pages link a stylesheet on a CDN; nothing leaves the machine."""
    page.context.route(re.compile(r"^https?://(?!localhost|127\.0\.0\.1)"), lambda route: route.abort())
    return page


def _sign_in(page: Page, app: RunningApp, email: str, path: str = "") -> None:
    page.goto(f"{app.url}/{path}")
    wait_for_app(page)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.get_by_placeholder("sub").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(rf"^{re.escape(app.url)}/"))
    wait_for_app(page)


def _nav_links(page: Page) -> list[str]:
    links = page.get_by_test_id("stSidebarNav").get_by_role("link").all()
    return [link.inner_text().strip().splitlines()[-1] for link in links]  # the icon name comes first


@pytest.mark.slow
def test_admin_signs_in_and_gets_the_admin_pages(live_app: RunningApp, offline: Page) -> None:
    _sign_in(offline, live_app, ADMIN)
    expect(offline.get_by_text(f"Signed in as {ADMIN} (admin)")).to_be_visible()
    expect(offline.get_by_role("heading", name="Partners")).to_be_visible()
    assert _nav_links(offline) == ["Partners", "Connect", "Members", "Reviews", "Automation", "Alerts", "Settings"]


@pytest.mark.slow
def test_role_comes_from_configuration(live_app: RunningApp, offline: Page) -> None:
    _sign_in(offline, live_app, ANALYST)  # matched by the @acme.example entry of PW_ROLE_ANALYSTS
    expect(offline.get_by_text(f"Signed in as {ANALYST} (analyst)")).to_be_visible()
    assert _nav_links(offline) == ["Partners", "Members", "Reviews", "Automation", "Alerts"]
    offline.goto(f"{live_app.url}/settings")  # an admin page by URL is not served to an analyst
    wait_for_app(offline)
    expect(offline.get_by_role("heading", name="Settings")).to_have_count(0)


@pytest.mark.slow
def test_unknown_user_gets_the_no_access_screen_and_signs_out(live_app: RunningApp, offline: Page) -> None:
    _sign_in(offline, live_app, STRANGER)
    expect(offline.get_by_text(f"{STRANGER} has no access to this PartnerWatch workspace.")).to_be_visible()
    expect(offline.get_by_test_id("stSidebarNav")).to_have_count(0)
    offline.get_by_role("button", name="Sign out").click()
    _back_from_sign_out(offline, live_app)
    expect(offline.get_by_role("button", name="Sign in")).to_be_visible()
    expect(offline.get_by_text("has no access")).to_have_count(0)


@pytest.mark.slow
def test_sign_out_ends_the_session(live_app: RunningApp, offline: Page) -> None:
    _sign_in(offline, live_app, ADMIN)
    offline.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    _back_from_sign_out(offline, live_app)
    expect(offline.get_by_role("button", name="Sign in")).to_be_visible()
    offline.goto(f"{live_app.url}/members")  # the identity cookie is gone: a page by URL asks to sign in again
    wait_for_app(offline)
    expect(offline.get_by_role("button", name="Sign in")).to_be_visible()
    expect(offline.get_by_role("heading", name="Members")).to_have_count(0)


def test_cold_deep_link_to_an_admin_page_shows_the_sign_in(live_app: RunningApp, offline: Page) -> None:
    offline.goto(f"{live_app.url}/settings")
    wait_for_app(offline)
    expect(offline.get_by_role("button", name="Sign in")).to_be_visible()
    expect(offline.get_by_role("heading", name="Settings")).to_have_count(0)
    expect(offline.get_by_test_id("stSidebarNav")).to_have_count(0)


def _back_from_sign_out(page: Page, app: RunningApp) -> None:
    """st.logout sends the browser to the issuer's end_session page; confirm there, and it returns to the app."""
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile("^" + re.escape(app.url)))
    wait_for_app(page)
