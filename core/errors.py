"""Errors a person should read, and references for the ones they should not.

`UserError` is the one base class of every error whose message is written for the person who asked (what went
wrong and what to do): the UI and the CLI show it as it is. Anything else that escapes is an internal error: it
is logged with a reference (`new_reference`) and the person sees only that reference. `InvalidInput` is a
`UserError` for a value someone typed or chose; it is also a `ValueError`, so parsers that expect one keep working.

May import: the standard library only.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any


class UserError(Exception):
    """A message for the person who asked: what went wrong and what to do next."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses build their message from their own arguments; another process (a benchmark's child, a
        # worker) rebuilds the error from its message and attributes instead of calling that __init__ again.
        return (_rebuilt, (type(self), self.args), self.__dict__)


def _rebuilt(cls: type[UserError], args: tuple[object, ...]) -> UserError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    return error


class InvalidInput(UserError, ValueError):
    """A value someone entered or chose is not acceptable; the message says which and why."""


def new_reference() -> str:
    """A short id that ties what the user sees to the server's log line (e.g. PW-3F9A1C2B)."""
    return "PW-" + secrets.token_hex(4).upper()


def log_internal(log: logging.Logger, what: str, exc: BaseException) -> str:
    """Log an unexpected error with its traceback under a new reference; returns the reference to show."""
    ref = new_reference()
    log.error("%s failed unexpectedly (reference %s)", what, ref, exc_info=exc)
    return ref


def internal_message(ref: str) -> str:
    """What a person sees for an internal error: the reference, never the exception's text."""
    return (
        f"PartnerWatch hit an internal error (reference {ref}). Try again; if it happens again, give this "
        "reference to whoever runs PartnerWatch."
    )
