"""Guest users in Chromium: change the sandbox's world, run Check for updates, open Members, click
Download CSV, and check the downloaded rows against GET /sandbox/world."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sandbox.server import SandboxServer
from tests.support.browser import RunningApp, start_check_for_updates, wait_for_app, wait_for_task
from tests.support.compare import comparable, world_rows
from tests.support.sandbox import control, monitored_partners, world


def _nav(page: Page, name: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_for_app(page)


@pytest.mark.slow
def test_sync_then_download_csv_equals_world(
    onboarded_app: RunningApp, sandbox_session: SandboxServer, page: Page, tmp_path: Path
) -> None:
    partner = monitored_partners(sandbox_session)[0]
    control(
        sandbox_session,
        "members/add",
        bc_id=partner.bc_id,
        user_email="browser.admin@agency.example",
        user_name="=Browser Admin",
        user_role="ADMIN",
    )
    page.goto(onboarded_app.url)
    wait_for_app(page)
    task_id = start_check_for_updates(page)  # the onboarding's own syncs are older tasks
    wait_for_app(page)
    _nav(page, "Automation")
    assert wait_for_task(page, task_id) == "Completed"

    _nav(page, "Members")
    expect(page.get_by_text("User Overview")).to_be_visible()
    page.get_by_role("button", name="Download CSV").click()  # mints the single-use link
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Save CSV").click()
    target = tmp_path / "guests.csv"
    download_info.value.save_as(target)

    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = world_rows(world(sandbox_session), [p.bc_id for p in monitored_partners(sandbox_session)])
    assert comparable(rows) == expected
    assert any(r["Member"] == "'=Browser Admin" for r in rows)  # neutralised, not a formula


@pytest.mark.slow
def test_waiting_for_a_task_waits_for_that_task_not_an_older_one(
    onboarded_app: RunningApp, sandbox_session: SandboxServer, page: Page
) -> None:
    """The onboarding left completed Check for updates tasks: any "Completed" text is already on Automation,
    so only a wait on the started task's own id tells whether this one has finished."""
    # The new task is held running (every TikTok call takes 5 s) until the test lets it go, however slowly
    # a loaded machine reaches the Automation page.
    control(sandbox_session, "latency", ms=5_000)
    try:
        page.goto(onboarded_app.url)
        wait_for_app(page)
        task_id = start_check_for_updates(page)
        _nav(page, "Automation")
        expect(page.get_by_text(re.compile(r"Check for updates · All partners · Completed")).first).to_be_visible()
        with pytest.raises(AssertionError):  # a text wait would have passed here; this one is still running
            wait_for_task(page, task_id, timeout=1_000)
        control(sandbox_session, "latency", ms=0)
        assert wait_for_task(page, task_id) == "Completed"
    finally:
        control(sandbox_session, "latency", ms=0)
