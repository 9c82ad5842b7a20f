"""The sandbox tests' HTTP clients (the session's sandbox itself is registered by tests/conftest.py)."""

from tests.support.sandbox_client import admin_token, api, get, http  # noqa: F401
