"""Exit codes, and the two errors that end a command: bad usage (2) and a failure (1)."""

from __future__ import annotations

OK, FAILED, USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


class CliFailure(Exception):
    """The command ran and failed (exit code 1); the message says why."""
