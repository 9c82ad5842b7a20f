"""The Connect wizard in Chromium against the real app and its embedded sandbox: Partners → More options →
Connect, the requirements (guest user invite, monitor account added to the vault and revealed), the dialog,
Next → the sandbox's login and consent pages in the pop-up, and the outcome in the wizard's tab."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    RunningApp,
    new_page,
    start_app,
    start_check_for_updates,
    stop_app,
    wait_for_app,
    wait_for_task,
)
from tests.support.wizard import (
    PASSWORD,
    SLOW,
    connect_customer,
    eligible_admin,
    expect_chosen,
    nav,
    popup_login_and_confirm,
    share_monitor_account_through_the_vault,
    through_the_dialog,
    to_wizard_from_partners,
)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app on its own data, with a client QPS that keeps the first Check for updates short."""
    app = start_app(tmp_path_factory.mktemp("connect-app"), PW_QPS="100")
    yield app
    stop_app(app)


@pytest.fixture(scope="module")
def world(app_server: RunningApp, browser: Browser) -> dict:
    """The customer BC connected and the partner list synced, through the UI; yields the sandbox world."""
    page = new_page(browser)
    connect_customer(page, app_server.url)
    nav(page, "Partners")
    task_id = start_check_for_updates(page)
    wait_for_app(page)
    nav(page, "Automation")
    assert wait_for_task(page, task_id, timeout=60_000) == "Completed"
    page.context.close()
    return httpx.get(f"{app_server.sandbox_url}/sandbox/world", timeout=30).json()


def _partner(world: dict, number: int) -> dict:
    return next(p for p in world["partners"] if p["number"] == number)


@pytest.mark.slow
def test_happy_path_connects_the_eligible_partner(app_server: RunningApp, world: dict, page: Page) -> None:
    partner = eligible_admin(world)
    page.goto(app_server.url)
    wait_for_app(page)
    to_wizard_from_partners(page, partner)
    email, password = share_monitor_account_through_the_vault(page, partner)
    assert email == partner["monitor_email"]
    expect(page.get_by_text(":material/check_circle:")).to_have_count(0)  # icons render, not their names
    through_the_dialog(page)

    popup = popup_login_and_confirm(page, "Next", email, password)
    popup.wait_for_event("close", timeout=15_000)
    closed_at = time.monotonic()
    expect(page.get_by_text(f"{partner['name']} is connected")).to_be_visible(timeout=3_000)
    assert time.monotonic() - closed_at < 3.0  # the 1 s fragment, with margin for the rerun
    expect(page.get_by_role("button", name="Reconnect your partner token")).to_be_visible(timeout=SLOW)

    expect(page.get_by_text(f"{partner['name']} is onboarded")).to_be_visible(timeout=SLOW)

    nav(page, "Partners")
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_contain_text("Onboarded", timeout=SLOW)  # this partner is the only one connected
    expect(grid).to_contain_text(partner["bc_id"])


@pytest.mark.slow
def test_standard_monitor_account_is_refused_with_what_to_do(app_server: RunningApp, world: dict, page: Page) -> None:
    partner = _partner(world, 2)
    assert partner["monitor_role"] == "STANDARD"
    page.goto(f"{app_server.url}/connect?partner={partner['bc_id']}")
    wait_for_app(page)
    expect_chosen(page, partner)
    through_the_dialog(page)

    popup = popup_login_and_confirm(page, "Next", partner["monitor_email"], PASSWORD)
    expect(popup.locator("#message")).to_contain_text("the monitor account needs the Admin role")
    expect(page.get_by_text("the monitor account needs the Admin role")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Not connected.")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text(f"{partner['name']} is connected")).to_have_count(0)
    popup.close()
