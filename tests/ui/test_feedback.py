"""ui.feedback: a UserError shows its message; any other error shows only a reference, and the log has the rest."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest


def _page(kind: str) -> None:
    import streamlit as st

    from core.errors import InvalidInput
    from ui.feedback import attempt, attempt_then_rerun, show_flashes

    def fail() -> None:
        if kind == "user":
            raise InvalidInput("'gmail' is not a domain name (for example gmail.com)")
        raise KeyError("/srv/partnerwatch/core/secret_path.py: token gAAAAAB-not-for-users")

    show_flashes()
    attempt(fail, what="Save domains")
    if st.button("again", key="again"):
        attempt_then_rerun(fail, what="Save domains", done="saved")


def test_a_user_error_shows_its_own_message() -> None:
    at = AppTest.from_function(_page, args=("user",)).run()
    assert [e.value for e in at.error] == ["'gmail' is not a domain name (for example gmail.com)"]


def test_an_internal_error_shows_a_reference_and_logs_the_details(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="ui.feedback")
    at = AppTest.from_function(_page, args=("internal",)).run()
    (shown,) = [e.value for e in at.error]
    assert "internal error (reference PW-" in shown
    assert "secret_path" not in shown
    assert "gAAAA" not in shown
    ref = shown.split("reference ")[1].split(")")[0]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_flashed_error_survives_the_rerun_once() -> None:
    at = AppTest.from_function(_page, args=("user",)).run()
    at.button(key="again").click().run()
    assert [e.value for e in at.error].count(
        "'gmail' is not a domain name (for example gmail.com)"
    ) == 2  # flash + inline
    at.run()
    assert [e.value for e in at.error] == ["'gmail' is not a domain name (for example gmail.com)"]  # flash shown once
