"""The worker's shared Chromium (tests/support/browser.py): kept between browser tests, closed before any other,
since an open Playwright sync API leaves its event loop marked running and `asyncio.run` would fail after it."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from tests.support import browser as support


class _Fake:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def is_connected(self) -> bool:
        return True

    def close(self) -> None:
        self.log.append(self.name)

    def stop(self) -> None:
        self.log.append(self.name)


def _teardown(nextitem: object) -> None:
    hook = support.pytest_runtest_teardown(SimpleNamespace(fixturenames=["browser"]), nextitem)
    next(hook)  # the fixtures' teardown happens here
    with pytest.raises(StopIteration):
        next(hook)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    closed: list[str] = []
    monkeypatch.setattr(support._Chromium, "browser", _Fake(closed, "browser"))
    monkeypatch.setattr(support._Chromium, "playwright", _Fake(closed, "playwright"))
    return closed


def test_kept_while_the_next_test_uses_a_browser(shared: list[str]) -> None:
    _teardown(SimpleNamespace(fixturenames=["page", "browser", "tmp_path"]))
    assert shared == []
    assert support._Chromium.playwright is not None


@pytest.mark.parametrize("nextitem", [None, SimpleNamespace(fixturenames=["tmp_path"])], ids=["last", "no-browser"])
def test_closed_before_a_test_without_one_or_at_the_end(shared: list[str], nextitem: object) -> None:
    _teardown(nextitem)
    assert shared == ["browser", "playwright"]
    assert support._Chromium.browser is None
    assert support._Chromium.playwright is None


def test_an_open_playwright_would_break_asyncio_run() -> None:
    """Why it is closed: the reason above, checked against the installed Playwright."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    refused = asyncio.sleep(0)
    try:
        with pytest.raises(RuntimeError, match="running event loop"):
            asyncio.run(refused)
    finally:
        refused.close()
        playwright.stop()
    asyncio.run(asyncio.sleep(0))
