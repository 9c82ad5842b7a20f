"""How the suite is marked, ordered and spread over pytest-xdist workers (`make test`: -n 2 --dist loadgroup).

Each test module is one xdist group, so its module fixtures (a connected workspace, a running app) are built
once; the browser tests (tests/e2e) are one group, so one app and one Chromium run at a time. The browser
group goes first and modules with `slow` tests next, so no worker is left alone with a long group at the end.
"""

from __future__ import annotations

import pytest

E2E = "tests/e2e/"


def is_browser_test(item: pytest.Item) -> bool:
    return item.nodeid.startswith(E2E)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_modules = {_module(item) for item in items if item.get_closest_marker("slow")}
    for item in items:
        browser = is_browser_test(item)
        if browser:
            item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.xdist_group("e2e" if browser else _module(item)))
    items.sort(key=lambda item: 0 if is_browser_test(item) else 1 if _module(item) in slow_modules else 2)
