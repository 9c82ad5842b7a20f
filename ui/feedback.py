"""Feedback for the person at the screen: the one flash-message mechanism, and the one way UI code calls core.

- `flash(message)` keeps a message for the next run of the page (after `st.rerun()`), `show_flashes()` shows
  and forgets them; a `slot` keeps a form's messages next to that form.
- `attempt(action, what=...)` calls core: a `UserError` shows its message; anything else is logged with a
  reference and shown as an internal error with that reference, never with its text. `succeeded` does the
  same for an action called for its effect.
- `attempt_then_rerun(action, what=..., done=...)` does the same, flashes the outcome and reruns the page, so
  everything above the button sees the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, TypeVar

import streamlit as st

from core.errors import UserError, internal_message, log_internal

log = logging.getLogger(__name__)
T = TypeVar("T")
Kind = Literal["success", "info", "warning", "error"]
_KEY = "pw_flashes"
_SHOW: dict[Kind, Callable[..., object]] = {
    "success": st.success,
    "info": st.info,
    "warning": st.warning,
    "error": st.error,
}


def flash(message: str, *, kind: Kind = "success", slot: str = "page") -> None:
    """Show `message` on the page's next run (in `slot`)."""
    st.session_state.setdefault(_KEY, []).append((slot, kind, message))


def show_flashes(slot: str = "page") -> None:
    """Show the flashed messages of `slot` once."""
    pending: list[tuple[str, Kind, str]] = st.session_state.get(_KEY, [])
    for kind, message in [(k, m) for s, k, m in pending if s == slot]:
        _SHOW[kind](message)
    st.session_state[_KEY] = [entry for entry in pending if entry[0] != slot]


def problem(exc: Exception, what: str) -> str:
    """What the person reads about `exc`: a UserError's own message, else an internal error's reference."""
    if isinstance(exc, UserError):
        return str(exc)
    return internal_message(log_internal(log, what, exc))


def attempt(action: Callable[[], T], *, what: str) -> T | None:
    """Call core; on failure show what went wrong (see `problem`) and return None."""
    try:
        return action()
    except Exception as exc:
        st.error(problem(exc, what))
        return None


def succeeded(action: Callable[[], object], *, what: str) -> bool:
    """Call core for its effect; on failure show what went wrong (see `problem`) and return False."""
    try:
        action()
    except Exception as exc:
        st.error(problem(exc, what))
        return False
    return True


def attempt_then_rerun(
    action: Callable[[], T], *, what: str, done: str | Callable[[T], str], slot: str = "page"
) -> None:
    """Call core, flash its outcome (`done`, or what went wrong) in `slot`, and rerun the page."""
    try:
        result = action()
    except Exception as exc:
        flash(problem(exc, what), kind="error", slot=slot)
    else:
        flash(done(result) if callable(done) else done, slot=slot)
    st.rerun()
