"""AppTest of the Members page through the shell: filters, search, removed toggle, paging, Changes tab."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.accounts import partners
from core.members import paging
from core.members.changes import WINDOWS
from core.members.filters import MemberFilter
from core.tasks import jobs
from tests.support.onboarding import run_sync
from tests.support.pages import members_page, members_tab
from tests.support.sandbox import control, monitored_partners


def _table(at: AppTest):
    return at.dataframe[0].value


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Guest users"))


def test_filters_search_and_paging_run_in_duckdb(onboarded, sandbox):
    at = members_page()
    store = onboarded.store
    total = paging.count(store, MemberFilter())
    assert _caption(at) == f"Guest users 1–{paging.PAGE_SIZE} of {total}"
    assert len(_table(at)) == paging.PAGE_SIZE
    first_page = list(_table(at)["user_email"])

    at.pagination(key="members_page").set_value(2).run()
    assert not at.exception
    second_page = list(_table(at)["user_email"])
    assert len(second_page) == min(paging.PAGE_SIZE, total - paging.PAGE_SIZE)
    assert not set(first_page) & set(second_page)

    at.multiselect(key="members_role").set_value(["ADMIN"]).run()
    admins = paging.count(store, MemberFilter(roles=("ADMIN",)))
    assert _caption(at).endswith(f"of {admins}")  # and back on page 1
    assert set(_table(at)["role"]) == {"Admin"}

    at.multiselect(key="members_flag").set_value(["invitation_pending"]).run()
    table = _table(at)
    assert len(table) == paging.count(store, MemberFilter(roles=("ADMIN",), flags=("invitation_pending",)))
    assert set(table["status"]) == {"Invitation pending"}
    assert all("Invitation pending" in f for f in table["flags"])

    at.multiselect(key="members_role").set_value([]).run()
    at.multiselect(key="members_flag").set_value([]).run()
    email = first_page[3]
    at.text_input(key="members_search").set_value(email.upper()).run()
    assert list(_table(at)["user_email"]) == [email]


def test_removed_toggle_and_changes_tab(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="leaver@agency.example", user_name="Leaver")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    control(sandbox, "members/remove", bc_id=bc_id, user_email="leaver@agency.example")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED

    at = members_page()
    at.text_input(key="members_search").set_value("leaver@").run()
    assert len(_table(at)) == 0
    at.toggle(key="members_removed").set_value(True).run()
    table = _table(at)
    assert list(table["user_email"]) == ["leaver@agency.example"]
    assert table["removed_at"].notna().all()

    changes = members_tab(at, "Changes").dataframe[0].value
    assert set(changes["change"]) == {"Added", "Removed"}
    assert set(changes["user_email"]) == {"leaver@agency.example"}


def _pager(at: AppTest) -> int:
    return at.pagination(key="members_page").value


def test_pager_caption_and_rows_agree_after_a_filter_sort_or_search_change(onboarded, sandbox):
    at = members_page()
    size = paging.PAGE_SIZE
    at.pagination(key="members_page").set_value(3).run()
    assert (_pager(at), _caption(at).split(" of ")[0]) == (3, f"Guest users {2 * size + 1}–{3 * size}")
    changes = [
        lambda: at.multiselect(key="members_status").set_value(["BOUND"]),
        lambda: at.selectbox(key="members_sort").set_value("email"),
        lambda: at.text_input(key="members_search").set_value("a"),
    ]
    for change in changes:
        at.pagination(key="members_page").set_value(2).run()
        change().run()
        assert not at.exception
        shown = _table(at)
        # back on page 1: the pager says so (the browser's pager shows this value), as do caption and rows
        assert at.session_state["members_page"] == 1
        assert at.pagination(key="members_page").proto.set_value  # sent to the browser, not only server-side
        assert _caption(at).startswith(f"Guest users 1–{len(shown)} of ")
    at.pagination(key="members_page").set_value(2).run()  # "next page" goes to page 2, not past it
    assert _pager(at) == 2
    assert _caption(at).startswith(f"Guest users {size + 1}–")


def test_a_whole_page_of_rows_shows_without_scrolling_inside_the_table(onboarded, sandbox, monkeypatch):
    import streamlit as st

    heights: dict[str, object] = {}
    real = st.dataframe

    def spy(*args, **kwargs):
        heights[kwargs.get("key")] = kwargs.get("height", "auto")
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "dataframe", spy)
    members_page()
    assert heights["members_table"] == "content"  # "auto" shows ten rows and scrolls the other forty inside


def test_changes_and_charts_use_the_tables_labels(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="promoted@agency.example", user_name="Promoted")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    control(sandbox, "members/update", bc_id=bc_id, user_email="promoted@agency.example", user_role="ADMIN")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED

    at = members_tab(members_page(), "Changes")
    log = at.dataframe[0].value
    promoted = log[log["user_email"] == "promoted@agency.example"].set_index("change")
    assert promoted.loc["Role changed", ["old_value", "new_value"]].tolist() == ["Standard", "Admin"]
    assert promoted.loc["Added", "new_value"] == "Standard"
    assert not {"ADMIN", "STANDARD", "BOUND"} & (set(log["old_value"].dropna()) | set(log["new_value"].dropna()))
    spec = _chart_spec(at)
    assert {spec["encoding"][axis]["field"] for axis in ("x", "y", "color")} == {
        "Sync (task · time)",
        "Guest users",
        "Change",
    }


def _chart_spec(at: AppTest) -> dict:
    import json

    return json.loads(_find(at.main, "vega_lite_chart")[0].proto.spec)  # AppTest has no chart accessor


def _find(node, kind: str) -> list:
    found = [node] if getattr(node, "type", None) == kind else []
    for child in getattr(node, "children", {}).values():
        found += _find(child, kind)
    return found


def test_partners_chart_uses_the_tables_labels(onboarded, sandbox):
    at = AppTest.from_file("../../ui/shell.py", default_timeout=30).run()  # `/` serves Partners
    assert not at.exception
    spec = _chart_spec(at)
    assert {spec["encoding"][axis]["field"] for axis in ("x", "y", "color")} == {
        "Partner",
        "Guest users",
        "TikTok role",
    }
    assert set(partners.members_by_role(onboarded.store)["role"]) == {"Admin", "Standard"}


def _export_tokens(store) -> int:
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM export_tokens").fetchone()[0]


def test_rendering_the_page_writes_nothing_and_download_mints_one_link_on_click(onboarded, sandbox):
    before = _export_tokens(onboarded.store)
    at = members_page()
    at.pagination(key="members_page").set_value(2).run()
    assert _export_tokens(onboarded.store) == before  # renders and reruns mint no export link
    assert not any(b.proto.label == "Save CSV" for b in at.get("link_button"))

    at.button(key="members_export").click().run()
    assert not at.exception, at.exception
    assert _export_tokens(onboarded.store) == before + 1
    (link,) = [b for b in at.get("link_button") if b.proto.label == "Save CSV"]
    assert "/api/export/members.csv?token=" in link.proto.url


def test_the_changes_period_is_chosen_and_shown(onboarded, sandbox):
    at = members_tab(members_page(), "Changes")
    period = at.selectbox(key="changes_window")
    assert WINDOWS[period.value] == 90
    assert period.options == ["Last 7 days", "Last 30 days", "Last 90 days", "Last 365 days", "All history"]
    assert any(c.value.startswith("Changes since ") and "last 90 days" in c.value for c in at.caption)
    period.set_value(WINDOWS.index(None)).run()
    assert not at.exception
    assert not any(c.value.startswith("Changes since ") for c in at.caption)
    at.selectbox(key="changes_window").set_value(WINDOWS.index(7)).run()
    assert any("last 7 days" in c.value for c in at.caption)
