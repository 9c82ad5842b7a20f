"""The trust suite's workspace: a copy of the session's onboarded template per test."""

from tests.support.workspace import onboarded, workspace_factory  # noqa: F401
