"""Browser tests: marked `browser` (tests/support/scheduling.py: a skipped one fails in CI), the app per module,
Chromium per worker."""

from tests.support.browser import (  # noqa: F401
    app_server,
    browser,
    onboarded_app,
    page,
    pytest_runtest_teardown,
)
