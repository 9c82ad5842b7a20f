"""Registers what tests/support shares: the suite's marks and xdist groups, the session's sandbox, Services,
onboarded and connected workspaces. Folder conftests register their own (tests/sandbox: HTTP clients;
tests/e2e: the app and Chromium). In CI a skipped browser test fails (tests/support/scheduling.py)."""

import os

import pytest

# the suite's `python -m …` children fork from a pre-imported zygote (tools/zygote.py); PW_TEST_ZYGOTE=0: subprocesses
os.environ.setdefault("PW_TEST_ZYGOTE", "1")

pytest.register_assert_rewrite("tests.support")

pytest_plugins = [
    "tests.support.scheduling",
    "tests.support.sandbox",
    "tests.support.services",
    "tests.support.onboarding",
    "tests.support.connect",
    "tests.support.backends",
]
