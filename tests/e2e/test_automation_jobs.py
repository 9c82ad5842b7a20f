"""Automation in Chromium: a task's jobs are read when its expander opens (a tracked expander inside the task
list's fragment), and the newest task's jobs show from the start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.store.database import Store
from tests.support.browser import RunningApp, start_app, stop_app, wait_for_app

SLOW = 20_000


def _seed(path: Path) -> None:
    """Three ended tasks (ids 1–3), each with one partner job, "Agency 1" … "Agency 3"."""
    now = datetime.now(UTC)
    store = Store(path)
    with store.write() as cur:
        for i in (1, 2, 3):
            for row in ([i, None, "Check for updates", "All partners"], [100 + i, i, "Partner", f"Agency {i}"]):
                cur.execute(
                    """INSERT INTO tasks (id, parent_id, kind, target, actor, trigger, status, created_at, updated_at)
                       VALUES (?, ?, ?, ?, 'admin@x', 'Manual', 'Completed', ?, ?)""",
                    [*row, now, now],
                )
    store.close()


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("automation-app")
    _seed(tmp / "data" / "pw.duckdb")
    app = start_app(tmp)
    yield app
    stop_app(app)


def _grids(page: Page):
    return page.get_by_test_id("stDataFrame")


@pytest.mark.slow
def test_a_tasks_jobs_show_when_its_expander_opens(app_server: RunningApp, page: Page) -> None:
    page.goto(f"{app_server.url}/automation")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Automation")).to_be_visible()
    expect(_grids(page)).to_have_count(2, timeout=SLOW)  # the tasks, and the newest task's jobs
    expect(_grids(page).nth(1).locator("[role=row]").nth(1)).to_contain_text("Agency 3", timeout=SLOW)
    page.get_by_test_id("stExpander").filter(has_text="#2 · Check for updates").locator("summary").click()
    expect(_grids(page)).to_have_count(3, timeout=SLOW)
    expect(_grids(page).nth(2).locator("[role=row]").nth(1)).to_contain_text("Agency 2", timeout=SLOW)
