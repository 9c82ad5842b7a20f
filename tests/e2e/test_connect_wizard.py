"""The Connect wizard in Chromium against the real app and its embedded sandbox: Partners → More options →
Connect, the requirements (guest user invite, monitor account added to the vault and revealed), the dialog,
Next → the sandbox's login and consent pages in the pop-up, and the outcome in the wizard's tab."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import RunningApp, start_app, start_check_for_updates, stop_app, wait_for_app, wait_for_task

PASSWORD = "sandbox-pass"
SLOW = 15_000  # ms: a rerun on a busy CI machine


def _nav(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_for_app(page)


def _popup_login_and_confirm(page: Page, button: str, email: str, password: str) -> Page:
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name=button, exact=True).click()
    popup = popup_info.value
    popup.locator("input[name=email]").fill(email)
    popup.locator("input[name=password]").fill(password)
    popup.get_by_role("button", name="Log in").click()
    expect(popup).to_have_title("App Authorization | TikTok For Business")
    popup.get_by_role("button", name="Confirm").click()
    return popup


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on its own data, with a client QPS that keeps the first Check for updates short."""
    app = start_app(tmp_path_factory.mktemp("connect-app"), PW_QPS="100")
    yield app
    stop_app(app)


@pytest.fixture(scope="module")
def world(app_server: RunningApp, browser: Browser) -> dict:
    """The customer BC connected and the partner list synced, through the UI; yields the sandbox world."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{app_server.url}/settings")
    wait_for_app(page)
    page.get_by_role("button", name="Connect your TikTok Business Center").click()
    wait_for_app(page)
    _popup_login_and_confirm(page, "Open TikTok authorization", "admin@acme.example", PASSWORD).wait_for_event(
        "close", timeout=15_000
    )
    expect(page.get_by_text("Business Center connected.")).to_be_visible(timeout=SLOW)
    _nav(page, "Partners")
    task_id = start_check_for_updates(page)
    wait_for_app(page)
    _nav(page, "Automation")
    assert wait_for_task(page, task_id, timeout=60_000) == "Completed"
    context.close()
    return httpx.get(f"{app_server.sandbox_url}/sandbox/world", timeout=30).json()


def _partner(world: dict, number: int) -> dict:
    return next(p for p in world["partners"] if p["number"] == number)


def _eligible_admin(world: dict) -> dict:
    return next(p for p in world["partners"] if p["eligible"] and p["monitor_role"] == "ADMIN")


def _to_wizard_from_partners(page: Page, partner: dict) -> None:
    _nav(page, "Partners")
    page.get_by_test_id("stSelectbox").filter(has_text="Partner").click()
    page.get_by_role("option", name=re.compile(re.escape(f"({partner['bc_id']})"))).click()
    wait_for_app(page)
    page.get_by_role("button", name="More options").click()
    page.get_by_role("button", name="Connect", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="1. Choose partner")).to_be_visible(timeout=SLOW)
    _expect_chosen(page, partner)


def _expect_chosen(page: Page, partner: dict) -> None:
    shared = re.compile(r"asset\(s\) shared with " + re.escape(partner["name"]))
    expect(page.get_by_text(shared)).to_be_visible(timeout=SLOW)


def _share_monitor_account_through_the_vault(page: Page, partner: dict) -> tuple[str, str]:
    page.get_by_text("Invite the partner's admin as a guest user").click()
    page.get_by_label("Guest user's e-mail").fill(f"owner@{partner['slug']}.example")
    page.get_by_role("button", name="Invite guest user").click()
    expect(page.get_by_text(f"owner@{partner['slug']}.example")).to_be_visible(timeout=SLOW)
    wait_for_app(page)  # until the rerun ends, the previous run's form can still be in the page beside the new one
    page.get_by_label("Monitor account e-mail").fill(partner["monitor_email"])
    page.get_by_label("Monitor account phone").fill("+15550100")
    page.get_by_label("Monitor account password").fill(PASSWORD)
    page.get_by_role("button", name="Add to the vault").click()
    reveal = page.get_by_role("button", name=re.compile(r"^Reveal "))
    expect(reveal).to_be_visible(timeout=SLOW)
    wait_for_app(page)
    reveal.click()
    expect(page.get_by_test_id("stCode")).to_have_count(3, timeout=SLOW)
    codes = page.get_by_test_id("stCode").all_inner_texts()
    return codes[0].strip(), codes[2].strip()


def _through_the_dialog(page: Page) -> None:
    page.get_by_role("button", name="Connect your partner token").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Connect your partner token")).to_be_visible(timeout=SLOW)
    dialog.get_by_role("button", name="Get started").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Grant access to the PartnerWatch app")).to_be_visible(timeout=SLOW)


@pytest.mark.slow
def test_happy_path_connects_the_eligible_partner(app_server: RunningApp, world: dict, page: Page) -> None:
    partner = _eligible_admin(world)
    page.goto(app_server.url)
    wait_for_app(page)
    _to_wizard_from_partners(page, partner)
    email, password = _share_monitor_account_through_the_vault(page, partner)
    assert email == partner["monitor_email"]
    expect(page.get_by_text(":material/check_circle:")).to_have_count(0)  # icons render, not their names
    _through_the_dialog(page)

    popup = _popup_login_and_confirm(page, "Next", email, password)
    popup.wait_for_event("close", timeout=15_000)
    closed_at = time.monotonic()
    expect(page.get_by_text(f"{partner['name']} is connected")).to_be_visible(timeout=3_000)
    assert time.monotonic() - closed_at < 3.0  # the 1 s fragment, with margin for the rerun
    expect(page.get_by_role("button", name="Reconnect your partner token")).to_be_visible(timeout=SLOW)

    expect(page.get_by_text(f"{partner['name']} is onboarded")).to_be_visible(timeout=SLOW)

    _nav(page, "Partners")
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_contain_text("Onboarded", timeout=SLOW)  # this partner is the only one connected
    expect(grid).to_contain_text(partner["bc_id"])


@pytest.mark.slow
def test_standard_monitor_account_is_refused_with_what_to_do(app_server: RunningApp, world: dict, page: Page) -> None:
    partner = _partner(world, 2)
    assert partner["monitor_role"] == "STANDARD"
    page.goto(f"{app_server.url}/connect?partner={partner['bc_id']}")
    wait_for_app(page)
    _expect_chosen(page, partner)
    _through_the_dialog(page)

    popup = _popup_login_and_confirm(page, "Next", partner["monitor_email"], PASSWORD)
    expect(popup.locator("#message")).to_contain_text("the monitor account needs the Admin role")
    expect(page.get_by_text("the monitor account needs the Admin role")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Not connected.")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text(f"{partner['name']} is connected")).to_have_count(0)
    popup.close()
