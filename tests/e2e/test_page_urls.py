"""Every page answers at its own URL, cold: the first request after start-up is the deep link (a shared link
or a bookmark), and it opens that page with its navigation entry current, never "Page not found"."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


@pytest.fixture(scope="module")
def cold_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningApp]]:
    """A fresh app per path, so each deep link is its app's first page request; started a few at a time, since
    a start mostly waits (the embedded sandbox, /healthz), but not all at once on a 2-core machine."""
    with ThreadPoolExecutor(3) as pool:
        starting = {path: pool.submit(start_app, tmp_path_factory.mktemp(path or "root")) for path in PAGES}
    apps = {path: future.result() for path, future in starting.items() if future.exception() is None}
    try:
        if len(apps) < len(PAGES):
            raise next(f.exception() for f in starting.values() if f.exception() is not None)
        yield apps
    finally:
        with ThreadPoolExecutor(len(PAGES)) as pool:  # each stop mostly waits for its app's shutdown
            list(pool.map(stop_app, apps.values()))


@pytest.mark.slow
@pytest.mark.parametrize("path", list(PAGES), ids=[p or "root" for p in PAGES])
def test_each_page_answers_at_its_own_url(cold_apps: dict[str, RunningApp], page: Page, path: str) -> None:
    cold_app = cold_apps[path]
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
