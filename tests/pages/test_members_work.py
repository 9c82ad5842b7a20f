"""The Members page works only for what is visible: the hidden tab is not computed, a click in the guest users'
table reruns only its fragment, the Changes tab's data and a page of members are computed once per data version
(and computed again after anything that changes them), and only the shown columns go to the browser."""

from __future__ import annotations

from collections import Counter

import pytest

from core.connect import connections
from core.members import changes, filters, flags, paging
from core.tasks import jobs
from tests.support.onboarding import run_sync
from tests.support.pages import GUESTS_FRAGMENT, fragment_rerun, members_page, members_tab
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ADMIN_ACTOR

CHANGES_QUERIES = ("changes", "timeline", "syncs")


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """How often each of the Changes tab's queries, the partner list and the shell's sign-in lookup ran."""
    from ui import auth

    counted: Counter = Counter()

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            counted[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in CHANGES_QUERIES:
        spy(changes, name)
    spy(filters, "partner_options")
    spy(paging, "view")
    spy(auth, "current_actor")
    return counted


def _changes_queries(calls: Counter) -> int:
    return sum(calls[name] for name in CHANGES_QUERIES)


def test_the_hidden_changes_tab_is_not_computed(onboarded, sandbox, calls):
    at = members_page()
    at.selectbox(key="members_sort").set_value("email").run()
    at.pagination(key="members_page").set_value(2).run()
    at.multiselect(key="members_role").set_value(["ADMIN"]).run()
    assert not at.exception, at.exception
    assert _changes_queries(calls) == 0
    assert len(at.dataframe) == 1  # the guest users' table only

    members_tab(at, "Changes")
    assert calls["timeline"] == 1
    assert not any(c.value.startswith("Guest users") for c in at.caption)  # and the guest users' tab is hidden
    assert calls["partner_options"] == 1  # the Members tab's first run only: once per data version


def test_the_changes_tab_is_computed_once_per_data_version(onboarded, sandbox, calls):
    bc_id = monitored_partners(sandbox)[0].bc_id
    at = members_tab(members_page(), "Changes")
    assert calls["timeline"] == 1
    at.run()
    members_tab(at, "TikTok Business guest users")
    members_tab(at, "Changes")
    assert calls["timeline"] == 1  # reruns and tab switches read the snapshot
    at.toggle(key="changes_baseline").set_value(True).run()
    assert calls["timeline"] == 2  # another view of the same data

    control(sandbox, "members/add", bc_id=bc_id, user_email="late@agency.example", user_name="Late")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    at.run()
    assert calls["timeline"] == 3  # a sync landed: computed again, and it shows
    assert "late@agency.example" in set(at.dataframe[0].value["user_email"])


def test_the_data_version_changes_with_a_sync_and_not_with_a_read(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    before = changes.data_version(onboarded.store)
    paging.view(onboarded.store, filters.MemberFilter())
    assert changes.data_version(onboarded.store) == before
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    assert changes.data_version(onboarded.store) != before


def test_a_click_in_the_table_reruns_only_its_fragment(onboarded, sandbox, calls):
    at = members_page()
    shell_runs = calls["current_actor"]
    first = list(at.dataframe[0].value["user_email"])
    with fragment_rerun(at, GUESTS_FRAGMENT) as scoped:
        at.pagination(key="members_page").set_value(2).run()
    assert scoped  # the page has the fragment the browser reruns
    assert not at.exception, at.exception
    assert calls["current_actor"] == shell_runs  # the shell did not run
    second = list(at.dataframe[0].value["user_email"])
    assert second
    assert not set(first) & set(second)
    assert next(c.value for c in at.caption if c.value.startswith("Guest users")).startswith(
        f"Guest users {paging.PAGE_SIZE + 1}–"
    )


def test_only_the_shown_columns_go_to_the_browser(onboarded, sandbox):
    at = members_page()
    assert list(at.dataframe[0].value.columns) == paging.PAGE_COLUMNS  # no bc ids or member keys
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="new@agency.example", user_name="New")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    at = members_tab(at, "Changes")
    assert "baseline" not in at.dataframe[0].value.columns


def test_the_guest_users_filters_and_page_outlive_a_visit_to_changes(onboarded, sandbox):
    at = members_page()
    at.multiselect(key="members_status").set_value(["BOUND"]).run()
    at.toggle(key="members_desc").set_value(True).run()
    at.pagination(key="members_page").set_value(2).run()  # after the filters: a new filter starts on page 1
    shown = list(at.dataframe[0].value["user_email"])
    members_tab(at, "Changes")
    at.toggle(key="changes_baseline").set_value(True).run()
    members_tab(at, "TikTok Business guest users")
    assert at.multiselect(key="members_status").value == ["BOUND"]
    assert at.toggle(key="members_desc").value is True
    pager = at.pagination(key="members_page")
    assert pager.value == 2
    assert pager.proto.set_value  # sent to the browser's pager, which was drawn afresh
    assert list(at.dataframe[0].value["user_email"]) == shown
    members_tab(at, "Changes")
    assert at.toggle(key="changes_baseline").value is True


def _shown(at) -> list[str]:
    return list(at.dataframe[0].value["user_email"])


def test_a_page_of_members_is_computed_once_per_data_version_for_every_session(onboarded, sandbox, calls):
    first = members_page()
    assert calls["view"] == 1
    second = members_page()  # another session asking for the same view reads it
    assert calls["view"] == 1
    assert _shown(second) == _shown(first)
    second.multiselect(key="members_role").set_value(["ADMIN"]).run()
    assert calls["view"] == 2
    second.multiselect(key="members_role").set_value([]).run()  # back to a view computed before
    assert calls["view"] == 2
    assert _shown(second) == _shown(first)

    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="aaa-late@agency.example", user_name="Aaa Late")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    first.run()
    assert calls["view"] == 3  # a sync landed: computed again, and it shows
    assert "aaa-late@agency.example" in _shown(first)


def test_a_disconnect_shows_at_once_though_the_page_was_read_before(onboarded, sandbox, calls):
    bc_id = monitored_partners(sandbox)[0].bc_id
    at = members_page()
    at.multiselect(key="members_partner").set_value([bc_id]).run()
    assert _shown(at)
    connections.disconnect_partner(onboarded, ADMIN_ACTOR, bc_id)  # no sync: the members are marked removed
    at.run()
    assert not at.dataframe[0].value.shape[0]  # not the page read before the disconnect
    assert any("No guest users match" in i.value for i in at.info)


def test_the_data_version_changes_with_what_changes_a_page_of_members(onboarded, sandbox):
    store = onboarded.store
    before = changes.data_version(store)
    flags.set_personal_domains(store, ADMIN_ACTOR, "agency.example")  # the personal e-mail flag
    after_domains = changes.data_version(store)
    assert after_domains != before
    bc_id = monitored_partners(sandbox)[0].bc_id
    with store.write() as cur:  # a partner renamed (its name is a column and the partner sort's key)
        cur.execute("UPDATE partners SET name = name || ' (renamed)' WHERE bc_id = ?", [bc_id])
    assert changes.data_version(store) != after_domains
