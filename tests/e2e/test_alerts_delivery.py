"""Alerts in Chromium: an admin adds a signed-webhook channel pointing at the sandbox's receiver and routes a
rule on for it, the sandbox's members change, Check for updates runs, and the digest is Delivered on
Alerts → Deliveries, is on /sandbox/webhooks, and its link opens the Members page on that task's changes."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, expect

from sandbox.server import SandboxServer
from tests.support.browser import RunningApp, start_check_for_updates, wait_for_app, wait_for_task
from tests.support.sandbox import control, monitored_partners

CHANNEL = "browser-security"
RULE = "New guest user"
NEW_ADMIN, NEW_ADMIN_NAME = "alert.admin@agency.example", "Alert Admin"
SLOW = 30_000


def _nav(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_for_app(page)


def _add_channel(page: Page, receiver_url: str) -> None:
    _nav(page, "Settings")
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Add channel"))
    form.get_by_role("textbox", name="Name").fill(CHANNEL)
    form.get_by_role("textbox", name="Webhook URL").fill(receiver_url)
    form.get_by_role("button", name="Add channel").click()
    wait_for_app(page)
    expect(page.get_by_text(f"Added the channel {CHANNEL}.")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Signing key (shown once, copy it now)")).to_be_visible()


def _enable_rule(page: Page) -> None:
    """Turn the New guest user rule (off by default) on, sending to the new channel only."""
    rule = page.get_by_test_id("stExpander").filter(has_text=f"{RULE} (off)")
    rule.locator("summary").click()
    rule.get_by_text("On", exact=True).click()
    rule.get_by_role("combobox", name=re.compile("^Channels")).click()
    page.get_by_role("option", name=CHANNEL).click()
    page.keyboard.press("Escape")
    rule.get_by_role("button", name="Save rule").click()
    wait_for_app(page)
    expect(page.get_by_text(f"Saved the rule “{RULE}”.")).to_be_visible(timeout=SLOW)
    listed = page.get_by_test_id("stDataFrame").locator("[role=row]").filter(has_text=re.compile(f"^{RULE}true"))
    expect(listed).to_contain_text(f"All partners{CHANNEL}", timeout=SLOW)


def _received(sandbox: SandboxServer, task_id: int, *, timeout: float = 60) -> dict:
    """The digest of `task_id` the sandbox's receiver recorded (polled: the receiver is another process's
    target, with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = httpx.get(f"{sandbox.base_url}/sandbox/webhooks", params={"format": "json"}, timeout=10).json()
        mine = [m for m in messages if isinstance(m["body"], dict) and m["body"].get("task_id") == task_id]
        if mine:
            return mine[-1]
        time.sleep(0.2)
    raise AssertionError(f"no digest of task #{task_id} reached the sandbox receiver within {timeout} s")


def _delivery_row(page: Page, task_id: int):
    rows = page.get_by_test_id("stDataFrame").first.locator("[role=row]")
    return rows.filter(has_text=CHANNEL).filter(has_text=f"#{task_id}")


def test_a_rule_and_channel_deliver_the_digest_of_a_sync(
    onboarded_app: RunningApp,
    sandbox_session: SandboxServer,
    page: Page,
) -> None:
    page.goto(onboarded_app.url)
    wait_for_app(page)
    _add_channel(page, f"{sandbox_session.base_url}/sandbox/webhooks/{CHANNEL}")
    _enable_rule(page)

    partner = monitored_partners(sandbox_session)[0]
    control(
        sandbox_session,
        "members/add",
        bc_id=partner.bc_id,
        user_email=NEW_ADMIN,
        user_name=NEW_ADMIN_NAME,
        user_role="ADMIN",
    )
    _nav(page, "Partners")
    task_id = start_check_for_updates(page)
    wait_for_app(page)
    _nav(page, "Automation")
    assert wait_for_task(page, task_id) == "Completed"

    message = _received(sandbox_session, task_id)
    digest = message["body"]
    assert message["name"] == CHANNEL
    assert not message["duplicate"]
    assert message["headers"]["idempotency-key"] == digest["delivery"]
    assert message["headers"]["x-partnerwatch-signature"]
    assert digest["counts"] == {"privileged_role": 1, "new_guest": 1}  # on by default, and the rule turned on
    assert {item["subject"] for item in digest["items"]} == {f"{NEW_ADMIN_NAME} <{NEW_ADMIN}>"}

    # Deliveries is not live: reopening the page is the state probe (the receiver may have answered a moment
    # before the dispatcher recorded its answer).
    _nav(page, "Alerts")
    deadline = time.monotonic() + 90
    while True:  # each try waits for the grid's rows to render; a reload shows a newer state
        try:
            expect(_delivery_row(page, task_id)).to_contain_text("Delivered", timeout=15_000)
            break
        except AssertionError:
            assert time.monotonic() < deadline, _delivery_row(page, task_id).all_inner_texts()
            page.reload()
            wait_for_app(page)
    expect(_delivery_row(page, task_id)).to_have_count(1)

    page.goto(f"{sandbox_session.base_url}/sandbox/webhooks")
    expect(page.get_by_role("heading", name=re.compile(rf"· {CHANNEL}$")).first).to_be_visible()
    expect(page.get_by_text(digest["delivery"]).first).to_be_visible()

    link = urlsplit(digest["link"])
    assert link.query == f"task={task_id}"
    page.goto(f"{onboarded_app.url}{link.path}?{link.query}")
    wait_for_app(page)
    expect(page.get_by_role("button", name=f"Changes of task #{task_id}")).to_be_visible(timeout=SLOW)
    expect(page.get_by_text("Guest users 1–1 of 1", exact=True)).to_be_visible(timeout=SLOW)
