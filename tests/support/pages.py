"""AppTest helpers: the shell by absolute path (tests at any depth), and the Connect wizard driven step by step."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.support import ROOT

SHELL = str(ROOT / "ui" / "shell.py")
CONNECT = "../pages/connect.py"  # switch_page paths are relative to the shell


def wizard(bc_id: str | None) -> AppTest:
    at = AppTest.from_file(SHELL, default_timeout=30).run()
    at.switch_page(CONNECT)
    if bc_id is not None:
        at.query_params["partner"] = bc_id
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def through_dialog(at: AppTest) -> AppTest:
    at.button(key="pw_open_connect").click().run()
    assert at.button(key="pw_get_started").label == "Get started"
    at.button(key="pw_get_started").click().run()
    assert not at.exception
    assert "Grant access to the PartnerWatch app" in [s.value for s in at.subheader]
    assert "/api/oauth/tiktok/start?state=" in texts(at.caption)  # the pop-up's fallback link
    return at
