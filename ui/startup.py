"""The start-up gate: a live configuration that cannot work stops the process before it serves a page.

`streamlit_app.py` calls `check_or_exit()` when the server imports it: every problem is printed on
stderr as one message and the process exits with status 2, so an operator (or systemd, or a container
runtime) sees why at once and no user ever meets a half-configured app. In live mode it also turns off
Streamlit's error details, so a user never sees a traceback or a server path (the log keeps them). Once the
app has started, `freeze_heap` takes what it imported out of the garbage collector's full passes.
"""

from __future__ import annotations

import gc
import sys
from typing import Any, TextIO

import streamlit as st

from core.config.errors import ConfigError
from core.config.settings import Settings
from core.config.startup import format_problems, startup_problems

EXIT_MISCONFIGURED = 2
LIVE_ERROR_DETAILS = "none"  # users read "An error occurred"; the server log has the traceback


def auth_section() -> dict[str, Any] | None:
    """The `[auth]` section st.login reads (from Streamlit's own `secrets.files`), or None."""
    if not st.secrets.load_if_toml_exists():
        return None
    auth = st.secrets.to_dict().get("auth")
    return auth if isinstance(auth, dict) and auth else None


def hide_error_details() -> None:
    """Live mode: exceptions reach the browser as a generic message only."""
    st.set_option("client.showErrorDetails", LIVE_ERROR_DETAILS)


def check_or_exit(err: TextIO | None = None) -> None:
    """Exit with status 2 and one message listing every problem; otherwise set the live error policy."""
    problems = startup_problems(auth_section())
    if problems:
        print(format_problems(problems), file=err or sys.stderr, flush=True)
        raise SystemExit(EXIT_MISCONFIGURED)
    try:
        live = not Settings.load().sandbox
    except ConfigError:  # cannot happen after an empty problem list; the services report it if it does
        live = True
    if live:
        hide_error_details()


def freeze_heap() -> None:
    """Collect once, then move every object alive now (the modules the app imported: Streamlit, pandas, pyarrow,
    DuckDB, core) into the collector's permanent generation, which its full passes skip: they live as long as
    the process, and a full pass walked all of them, a pause that fell on whichever click was running (see
    benchmarks/RESULTS.md, "Cost of a click"). Objects made later are collected as before."""
    gc.collect()
    gc.freeze()
