"""A cold deep link (the first request after start-up goes straight to a page) still runs the shell:
the sign-in/sandbox gate and our navigation, never Streamlit's legacy `pages/` auto-discovery."""

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import RunningApp, wait_for_app


@pytest.mark.slow
def test_cold_deep_link_runs_the_shell_first(app_server: RunningApp, page: Page) -> None:
    page.goto(f"{app_server.url}/automation")
    wait_for_app(page)
    expect(page.get_by_text("Sandbox mode")).to_be_visible()
    expect(page.get_by_role("heading", name="Automation")).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Partners")).to_be_visible()
    expect(nav.get_by_text("streamlit app")).to_have_count(0)


def test_settings_deep_link_opens_for_the_sandbox_admin(app_server: RunningApp, page: Page) -> None:
    page.goto(f"{app_server.url}/settings")
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()  # the sandbox default user is an admin
