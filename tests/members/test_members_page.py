"""AppTest of the Members page through the shell: filters, search, removed toggle, paging, Changes tab."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.members import queries
from core.members.queries import MemberFilter
from core.tasks import jobs
from tests.members.conftest import control, monitored_partners, run_sync


def _members_page() -> AppTest:
    at = AppTest.from_file("../../ui/shell.py", default_timeout=30)
    at.run()
    at.switch_page("../pages/members.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _table(at: AppTest):
    return at.dataframe[0].value


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Guest users"))


def test_filters_search_and_paging_run_in_duckdb(onboarded, sandbox):
    at = _members_page()
    store = onboarded.store
    total = queries.count(store, MemberFilter())
    assert _caption(at) == f"Guest users 1–{queries.PAGE_SIZE} of {total}"
    assert len(_table(at)) == queries.PAGE_SIZE
    first_page = list(_table(at)["user_email"])

    at.pagination(key="members_page").set_value(2).run()
    assert not at.exception
    second_page = list(_table(at)["user_email"])
    assert len(second_page) == min(queries.PAGE_SIZE, total - queries.PAGE_SIZE)
    assert not set(first_page) & set(second_page)

    at.multiselect(key="members_role").set_value(["ADMIN"]).run()
    admins = queries.count(store, MemberFilter(roles=("ADMIN",)))
    assert _caption(at).endswith(f"of {admins}")  # and back on page 1
    assert set(_table(at)["role"]) == {"Admin"}

    at.multiselect(key="members_flag").set_value(["invitation_pending"]).run()
    table = _table(at)
    assert len(table) == queries.count(store, MemberFilter(roles=("ADMIN",), flags=("invitation_pending",)))
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

    at = _members_page()
    at.text_input(key="members_search").set_value("leaver@").run()
    assert len(_table(at)) == 0
    at.toggle(key="members_removed").set_value(True).run()
    table = _table(at)
    assert list(table["user_email"]) == ["leaver@agency.example"]
    assert table["removed_at"].notna().all()

    changes = at.dataframe[1].value  # the Changes tab renders too
    assert set(changes["change"]) == {"Added", "Removed"}
    assert set(changes["user_email"]) == {"leaver@agency.example"}
