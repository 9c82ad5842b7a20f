"""The Connect wizard and the OAuth pop-up driven in Chromium: what tests/e2e share to connect the customer BC
(Settings) and a partner (Partners → More options → Connect → requirements → dialog → pop-up)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.browser import wait_for_app

PASSWORD = "sandbox-pass"
SLOW = 15_000  # ms: a rerun on a busy CI machine


def nav(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_for_app(page)


def popup_login_and_confirm(page: Page, button: str, email: str, password: str) -> Page:
    """Click `button` (it opens TikTok's authorization in a pop-up), log in there and Confirm; the pop-up."""
    with page.expect_popup() as popup_info:
        page.get_by_role("button", name=button, exact=True).click()
    popup = popup_info.value
    popup.locator("input[name=email]").fill(email)
    popup.locator("input[name=password]").fill(password)
    popup.get_by_role("button", name="Log in").click()
    expect(popup).to_have_title("App Authorization | TikTok For Business")
    popup.get_by_role("button", name="Confirm").click()
    return popup


def connect_customer(page: Page, app_url: str) -> None:
    """Settings → Connect your TikTok Business Center as the sandbox's customer admin, until it says so."""
    page.goto(f"{app_url}/settings")
    wait_for_app(page)
    page.get_by_role("button", name="Connect your TikTok Business Center").click()
    wait_for_app(page)
    popup_login_and_confirm(page, "Open TikTok authorization", "admin@acme.example", PASSWORD).wait_for_event(
        "close", timeout=SLOW
    )
    expect(page.get_by_text("Business Center connected.")).to_be_visible(timeout=SLOW)


def expect_chosen(page: Page, partner: dict) -> None:
    shared = re.compile(r"asset\(s\) shared with " + re.escape(partner["name"]))
    expect(page.get_by_text(shared)).to_be_visible(timeout=SLOW)


def to_wizard_from_partners(page: Page, partner: dict) -> None:
    nav(page, "Partners")
    page.get_by_test_id("stSelectbox").filter(has_text="Partner").click()
    page.get_by_role("option", name=re.compile(re.escape(f"({partner['bc_id']})"))).click()
    wait_for_app(page)
    page.get_by_role("button", name="More options").click()
    page.get_by_role("button", name="Connect", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="1. Choose partner")).to_be_visible(timeout=SLOW)
    expect_chosen(page, partner)


def share_monitor_account_through_the_vault(page: Page, partner: dict) -> tuple[str, str]:
    """The requirements: the partner's admin invited as a guest user, the monitor account added to the vault
    and revealed; returns the revealed e-mail and password."""
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


def through_the_dialog(page: Page) -> None:
    page.get_by_role("button", name="Connect your partner token").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Connect your partner token")).to_be_visible(timeout=SLOW)
    dialog.get_by_role("button", name="Get started").click()
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Grant access to the PartnerWatch app")).to_be_visible(timeout=SLOW)


def eligible_admin(world: dict) -> dict:
    """The first partner PartnerWatch can connect (eligible, its monitor account an ADMIN)."""
    return next(p for p in world["partners"] if p["eligible"] and p["monitor_role"] == "ADMIN")
