"""AppTest helpers: the shell by absolute path (tests at any depth), the Members page and its tabs, and the Connect
wizard driven step by step."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from streamlit.testing.v1 import AppTest

from tests.support import ROOT

SHELL = str(ROOT / "ui" / "shell.py")
CONNECT = "../pages/connect.py"  # switch_page paths are relative to the shell
MEMBERS = "../pages/members.py"
GUESTS_FRAGMENT = "members_guest_users"  # the Members page's filters, table and pager


def members_page() -> AppTest:
    """The Members page through the shell, run once, without an exception."""
    at = AppTest.from_file(SHELL, default_timeout=30)
    at.run()
    at.switch_page(MEMBERS)
    at.run()
    assert not at.exception, at.exception
    return at


def members_tab(at: AppTest, label: str) -> AppTest:
    """Switch the Members page to its tab `label` (only the open tab's body runs)."""
    at.session_state["members_tab"] = label
    at.run()
    assert not at.exception, at.exception
    return at


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


@contextmanager
def fragment_rerun(at: AppTest, key: str) -> Iterator[bool]:
    """Make the next AppTest run a rerun of the fragment `key` only, as the browser requests one for a widget
    inside it; yields False (a whole rerun) when the page has no such fragment."""
    from streamlit.errors import StreamlitAPIException
    from streamlit.testing.v1 import local_script_runner

    try:
        (fragment_id,) = at._fragment_storage.resolve_target(key)
    except StreamlitAPIException:
        yield False
        return
    original = local_script_runner.RerunData
    local_script_runner.RerunData = functools.partial(original, fragment_id=fragment_id)
    try:
        yield True
    finally:
        local_script_runner.RerunData = original
