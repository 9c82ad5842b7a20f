"""Browser tests: marked `browser` (a skipped one fails in CI), the app and Chromium per module."""

from tests.support.browser import (  # noqa: F401
    app_server,
    browser,
    onboarded_app,
    page,
    pytest_runtest_makereport,
)
