"""Every page answers at its own URL, cold: the first request after start-up is the deep link (a shared link
or a bookmark), and it opens that page with its navigation entry current, never "Page not found"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import RunningApp, start_app, stop_app, wait_for_app

# url path → (page heading, navigation entry); the sandbox's default user is an admin, so every page is there
PAGES = {
    "partners": ("Partners", "Partners"),
    "connect": ("Connect a partner", "Connect"),
    "members": ("Members", "Members"),
    "reviews": ("Reviews", "Reviews"),
    "automation": ("Automation", "Automation"),
    "alerts": ("Alerts", "Alerts"),
    "settings": ("Settings", "Settings"),
    "": ("Partners", None),  # `/` lands on Partners too
}


@pytest.fixture
def cold_app(tmp_path) -> Iterator[RunningApp]:
    """A fresh app per test, so the deep link is its first page request."""
    app = start_app(tmp_path)
    yield app
    stop_app(app)


@pytest.mark.slow
@pytest.mark.parametrize("path", list(PAGES), ids=[p or "root" for p in PAGES])
def test_each_page_answers_at_its_own_url(cold_app: RunningApp, page: Page, path: str) -> None:
    heading, entry = PAGES[path]
    page.goto(f"{cold_app.url}/{path}")
    wait_for_app(page)
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert page.url.rstrip("/") == f"{cold_app.url}/{path}".rstrip("/")  # still at the shared address
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link")).to_have_count(7)  # the admin's seven pages; `/` adds no entry
    if entry is not None:
        expect(nav.get_by_role("link", name=entry)).to_have_attribute("href", f"{cold_app.url}/{path}")
        expect(nav.get_by_role("link", name=entry)).to_have_attribute("aria-current", "page")
