"""The Members pager in Chromium: after every filter, sort, search or page change, the highlighted page,
the caption ("Guest users a–b of N") and the rows in the table agree, and "next page" goes one page on."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from core.members.paging import PAGE_SIZE
from tests.support.browser import RunningApp, wait_for_app

SLOW = 20_000


def _caption(page: Page) -> Locator:
    return page.get_by_text(re.compile(r"^Guest users \d+–\d+ of \d+$"))


def _agree(page: Page, number: int) -> int:
    """Pager on page `number`, caption from that page's first row, as many rows as the caption counts."""
    expect(page.get_by_test_id("stPaginationPageActive")).to_have_text(str(number), timeout=SLOW)
    first = (number - 1) * PAGE_SIZE + 1
    expect(_caption(page)).to_have_text(re.compile(rf"^Guest users {first}–\d+ of \d+$"), timeout=SLOW)
    wait_for_app(page)
    low, high, total = map(int, re.findall(r"\d+", _caption(page).inner_text()))
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid.locator("[role=row]")).to_have_count(high - low + 2, timeout=SLOW)  # + the header row
    box = grid.bounding_box()
    assert box is not None
    assert box["height"] >= (high - low + 2) * 35  # every row shown, no scrolling inside the grid
    return total


def _pick(page: Page, label: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.press_sequentially(option)  # typing filters the options; Enter takes the first one
    expect(page.get_by_role("option").filter(has_text=re.compile(rf"^{re.escape(option)}$"))).to_be_visible()
    box.press("Enter")
    page.keyboard.press("Escape")
    wait_for_app(page)


def _go_to(page: Page, number: int) -> None:
    first_row = page.get_by_test_id("stDataFrame").first.locator("[role=row]").nth(1)
    before = first_row.inner_text()
    moves = page.get_by_test_id("stPaginationPageActive").inner_text() != str(number)
    page.get_by_role("button", name=f"Page {number}", exact=True).click()
    _agree(page, number)
    if moves:
        expect(first_row).not_to_have_text(before, timeout=SLOW)  # the grid has drawn that page's rows


@pytest.mark.slow
def test_pager_caption_and_rows_agree_through_filters_sorts_and_searches(
    onboarded_app: RunningApp,
    page: Page,
) -> None:
    page.goto(f"{onboarded_app.url}/members")
    wait_for_app(page)
    total = _agree(page, 1)
    assert total > 3 * PAGE_SIZE  # enough guest users for four pages
    _go_to(page, 3)

    changes = [
        lambda: _pick(page, "Status", "Joined"),
        lambda: _pick(page, "Sort by", "Email"),
        lambda: page.get_by_text("Descending", exact=True).click(),
        lambda: (page.get_by_role("textbox", name="Search").fill("a"), page.keyboard.press("Enter")),
    ]
    first_row = page.get_by_test_id("stDataFrame").first.locator("[role=row]").nth(1)
    for change in changes:
        _go_to(page, 3)  # the change happens away from page 1
        on_page_3 = first_row.inner_text()
        change()
        wait_for_app(page)
        _agree(page, 1)  # back on page 1: the pager highlights it, as the caption and rows say
        expect(first_row).not_to_have_text(on_page_3, timeout=SLOW)  # the grid has drawn the new rows
        on_page_1 = first_row.inner_text()
        page.get_by_role("button", name="Next page").click()
        _agree(page, 2)  # one page on, not from the page highlighted before the change
        expect(first_row).not_to_have_text(on_page_1, timeout=SLOW)
        on_page_2 = first_row.inner_text()
        _go_to(page, 1)
        expect(first_row).to_have_text(on_page_1, timeout=SLOW)
        _go_to(page, 2)
        expect(first_row).to_have_text(on_page_2, timeout=SLOW)  # the rows were those of the highlighted page


@pytest.mark.slow
def test_only_the_open_tab_is_drawn_and_a_switch_keeps_the_guest_users_page(
    onboarded_app: RunningApp,
    page: Page,
) -> None:
    """The tabs rerun the page on a switch and only the open tab's body runs: Changes shows its own view and no
    guest users' table; back on the guest users, the filters and the page are those left."""
    page.goto(f"{onboarded_app.url}/members")
    wait_for_app(page)
    everyone = _agree(page, 1)
    _pick(page, "Status", "Joined")
    # the caption of page 1 already matched before the filter's rerun: wait for the filtered count itself
    expect(_caption(page)).not_to_have_text(re.compile(rf" of {everyone}$"), timeout=SLOW)
    joined = _agree(page, 1)
    assert joined < everyone
    _go_to(page, 2)
    page.get_by_role("tab", name="Changes").click()
    wait_for_app(page)
    expect(page.get_by_text("Include first syncs")).to_be_visible(timeout=SLOW)
    expect(_caption(page)).to_have_count(0)  # the guest users' tab did not run
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)  # no change log yet: only first syncs
    page.get_by_role("tab", name="TikTok Business guest users").click()
    wait_for_app(page)
    assert _agree(page, 2) == joined  # the status filter and the page outlived the hidden tab
    expect(page.get_by_text("Include first syncs")).to_have_count(0)
