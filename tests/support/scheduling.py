"""How the suite is marked, ordered and spread over pytest-xdist workers (`make test`: -n 2 --dist loadgroup).

Each test module is one xdist group, so its module fixtures (a connected workspace, a running app) are built
once. The browser tests (tests/e2e) are the longest stretch of the suite, so their modules are dealt, in name
order, into BROWSER_GROUPS groups (one per worker by default): each worker runs its browser modules one at a
time, so at most one app and one Chromium per worker. The browser groups go first and modules with `slow`
tests next, so no worker is left alone with a long group at the end. A module marked `xdist_each_test` (long
tests that share no module fixture, such as the benchmark smoke runs) has one group per test instead, so both
workers take its tests.
"""

from __future__ import annotations

import pytest

E2E = "tests/e2e/"
BROWSER_GROUPS = 2


def is_browser_test(item: pytest.Item) -> bool:
    return item.nodeid.startswith(E2E)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def _group(item: pytest.Item, browser_group: dict[str, str]) -> str:
    if item.get_closest_marker("xdist_each_test"):
        # no "]" in a group name: xdist takes the group from after the last "@" only when no "]" follows it
        return f"{_module(item)}::{item.name}".replace("[", "(").replace("]", ")")
    return browser_group.get(_module(item), _module(item))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_modules = {_module(item) for item in items if item.get_closest_marker("slow")}
    browser_modules = sorted({_module(item) for item in items if is_browser_test(item)})
    browser_group = {module: f"e2e-{n % BROWSER_GROUPS}" for n, module in enumerate(browser_modules)}
    for item in items:
        browser = is_browser_test(item)
        if browser:
            item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.xdist_group(_group(item, browser_group)))
    items.sort(key=lambda item: 0 if is_browser_test(item) else 1 if _module(item) in slow_modules else 2)
