"""How the suite is marked, ordered and spread over pytest-xdist workers (`make test`: -n 2 --dist loadgroup).

Each test module is one xdist group, so its module fixtures (a connected workspace, a running app) are built
once. The browser tests (tests/e2e) are the longest stretch of the suite, so their modules are dealt into
BROWSER_GROUPS groups (one per worker by default), longest first into the group with the least so far (by
BROWSER_SECONDS): each worker runs its browser modules one at a time, so at most one app and one Chromium per
worker, and the groups end at about the same time. The browser groups go first and modules with `slow`
tests next, so no worker is left alone with a long group at the end. A module marked `xdist_each_test` (long
tests that share no module fixture, such as the benchmark smoke runs) has one group per test instead, so both
workers take its tests.

In CI (CI=true) a skipped test marked `browser` fails: wherever it lives (tests/e2e, the browser benchmarks' smoke
runs, the probe's test), Chromium missing must not pass unseen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

E2E = "tests/e2e/"
BROWSER_GROUPS = 2
# Wall seconds of the longer browser modules in a full `make test` run (2026-12-02, -n 2, load ~8), only to deal
# them evenly; a module not listed counts as UNLISTED_SECONDS. Keep it roughly current when a module grows.
BROWSER_SECONDS = {
    "tests/e2e/test_page_urls.py": 203,
    "tests/e2e/test_review_campaign.py": 143,
    "tests/e2e/test_connect_wizard.py": 103,
    "tests/e2e/test_replicas.py": 97,
    "tests/e2e/test_members_download.py": 81,
    "tests/e2e/test_members_pager.py": 74,
    "tests/e2e/test_sign_in.py": 63,
}
UNLISTED_SECONDS = 30


def is_browser_test(item: pytest.Item) -> bool:
    return item.nodeid.startswith(E2E)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def deal_browser_modules(modules: set[str], groups: int = BROWSER_GROUPS) -> dict[str, str]:
    """Each module's group: the longest first, each into the group with the fewest seconds so far."""
    load = [0] * groups
    dealt = {}
    for module in sorted(modules, key=lambda m: (-BROWSER_SECONDS.get(m, UNLISTED_SECONDS), m)):
        least = load.index(min(load))
        dealt[module] = f"e2e-{least}"
        load[least] += BROWSER_SECONDS.get(module, UNLISTED_SECONDS)
    return dealt


def _group(item: pytest.Item, browser_group: dict[str, str]) -> str:
    if item.get_closest_marker("xdist_each_test"):
        # no "]" in a group name: xdist takes the group from after the last "@" only when no "]" follows it
        return f"{_module(item)}::{item.name}".replace("[", "(").replace("]", ")")
    return browser_group.get(_module(item), _module(item))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slow_modules = {_module(item) for item in items if item.get_closest_marker("slow")}
    browser_group = deal_browser_modules({_module(item) for item in items if is_browser_test(item)})
    for item in items:
        browser = is_browser_test(item)
        if browser:
            item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.xdist_group(_group(item, browser_group)))
    items.sort(key=lambda item: 0 if is_browser_test(item) else 1 if _module(item) in slow_modules else 2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and item.get_closest_marker("browser"):
        report.outcome = "failed"
        report.longrepr = f"browser test skipped in CI (not allowed): {report.longrepr}"
