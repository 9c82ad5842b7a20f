"""Registers the shared fixtures (tests/support): the session's sandbox, Services, onboarded workspaces and
connected workspaces. Folder conftests register their own (tests/sandbox: HTTP clients; tests/e2e: Chromium)."""

import pytest

pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.support.sandbox",
    "tests.support.services",
    "tests.support.onboarding",
    "tests.support.connect",
]
