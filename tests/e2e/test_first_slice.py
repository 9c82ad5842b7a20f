"""The first flow a user sees, in Chromium: connect the customer BC through the sandbox portal pop-up,
run Check for updates, watch it reach Completed, and see the partners with their statuses."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import RunningApp, start_check_for_updates, wait_for_app, wait_for_task


def _nav(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_for_app(page)


@pytest.mark.slow
def test_connect_customer_bc_then_check_for_updates(app_server: RunningApp, page: Page) -> None:
    page.goto(app_server.url)
    wait_for_app(page)
    expect(page.get_by_text("Sandbox mode")).to_be_visible()

    _nav(page, "Settings")
    page.get_by_role("button", name="Connect your TikTok Business Center").click()
    wait_for_app(page)
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name="Open TikTok authorization").click()
    popup = popup_info.value
    popup.locator("input[name=email]").fill("admin@acme.example")
    popup.locator("input[name=password]").fill("sandbox-pass")
    popup.get_by_role("button", name="Log in").click()
    expect(popup).to_have_title("App Authorization | TikTok For Business")
    popup.get_by_role("button", name="Confirm").click()
    popup.wait_for_event("close", timeout=15_000)
    expect(page.get_by_text("Business Center connected.")).to_be_visible(timeout=5_000)
    expect(page.get_by_text(re.compile("Connected to .*Acme Retail Group"))).to_be_visible()

    _nav(page, "Partners")
    task_id = start_check_for_updates(page)
    wait_for_app(page)
    _nav(page, "Automation")
    assert wait_for_task(page, task_id) == "Completed"  # this task's own row, not any completed one

    world = httpx.get(f"{app_server.sandbox_url}/sandbox/world", timeout=30).json()
    eligible = sum(p["eligible"] for p in world["partners"])
    expected = f"{len(world['partners']) - eligible} Not eligible · {eligible} Pending onboarding"
    _nav(page, "Partners")
    expect(page.get_by_text(expected)).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    page.get_by_role("combobox", name="Partner").click()
    options = page.get_by_role("option")
    for partner in world["partners"]:
        expect(options.filter(has_text=partner["bc_id"])).to_have_count(1)
