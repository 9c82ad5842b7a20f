"""The probe's test drives Chromium (the worker's, as in tests/e2e)."""

from tests.support.browser import browser, page, pytest_runtest_teardown  # noqa: F401
