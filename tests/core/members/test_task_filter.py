"""The members one sync task changed: the `task_id` filter (an alert digest links to `/members?task=N`), in
the query, the CSV export and the Members page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import InvalidInput
from core.members import export, paging
from core.members.filters import MemberFilter
from core.services import Services
from core.tasks import jobs
from sandbox.server import SandboxServer
from tests.support.compare import exported_rows
from tests.support.onboarding import run_sync
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ANALYST_ACTOR

JOINER, PROMOTED, LEAVER = "joiner@agency.example", "promoted@agency.example", "leaver@agency.example"


def _changing_sync(svc: Services, sandbox: SandboxServer) -> tuple[int, int]:
    """A sync adding PROMOTED and LEAVER, then one that adds JOINER, promotes PROMOTED and removes LEAVER."""
    bc_id = monitored_partners(sandbox)[0].bc_id
    for email in (PROMOTED, LEAVER):
        control(sandbox, "members/add", bc_id=bc_id, user_email=email, user_role="STANDARD")
    before, status = run_sync(svc, bc_id)
    assert status == jobs.COMPLETED
    control(sandbox, "members/add", bc_id=bc_id, user_email=JOINER, user_name="Joiner")
    control(sandbox, "members/update", bc_id=bc_id, user_email=PROMOTED, user_role="ADMIN")
    control(sandbox, "members/remove", bc_id=bc_id, user_email=LEAVER)
    task_id, status = run_sync(svc, bc_id)
    assert status == jobs.COMPLETED
    return before, task_id


def _emails(svc: Services, f: MemberFilter) -> set[str]:
    return set(paging.page(svc.store, f, limit=1000)["user_email"])


@pytest.mark.parametrize("sort", ["partner", "member", "flags"])
def test_the_task_filter_keeps_the_members_that_task_changed(onboarded, sandbox, sort):
    before, task_id = _changing_sync(onboarded, sandbox)
    changed = MemberFilter(task_id=task_id, include_removed=True, sort=sort)
    assert _emails(onboarded, changed) == {JOINER, PROMOTED, LEAVER}
    assert paging.count(onboarded.store, changed) == 3
    assert paging.view(onboarded.store, changed).total == 3
    # the other filters still apply on top of it; removed members only when asked for
    assert _emails(onboarded, MemberFilter(task_id=task_id, sort=sort)) == {JOINER, PROMOTED}
    assert _emails(onboarded, MemberFilter(task_id=task_id, roles=("ADMIN",), sort=sort)) == {PROMOTED}
    assert _emails(onboarded, MemberFilter(task_id=task_id, search="joiner", sort=sort)) == {JOINER}
    assert _emails(onboarded, MemberFilter(task_id=before, include_removed=True, sort=sort)) == {PROMOTED, LEAVER}
    assert _emails(onboarded, MemberFilter(task_id=task_id + 1000, sort=sort)) == set()


def test_the_export_and_its_link_honour_the_task(onboarded, sandbox):
    _, task_id = _changing_sync(onboarded, sandbox)
    changed = MemberFilter(task_id=task_id, include_removed=True)
    assert {r["Email"] for r in exported_rows(onboarded, changed)} == {JOINER, PROMOTED, LEAVER}
    token = export.mint_token(onboarded.store, ANALYST_ACTOR, changed)
    assert export.redeem_token(onboarded.store, token)[1] == changed  # the download link keeps the task
    assert MemberFilter.from_mapping(changed.to_query()) == changed  # and so does the command line's request


@pytest.mark.parametrize("raw", ["abc", "1;DROP TABLE members", "-1", "1.5", "١٢"])
def test_a_task_that_is_not_a_number_is_refused(raw):
    with pytest.raises(InvalidInput):
        MemberFilter.from_mapping({"task_id": raw})


def test_task_numbers_are_read_from_links():
    assert MemberFilter.from_mapping({"task_id": "#12"}).task_id == 12
    assert MemberFilter.from_mapping({"task_id": 7}).task_id == 7
    assert MemberFilter.from_mapping({}).task_id is None


def _members_page(task: str) -> AppTest:
    at = AppTest.from_file("../../../ui/shell.py", default_timeout=30)
    at.run()
    at.query_params["task"] = task
    at.switch_page("../pages/members.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_members_page_follows_the_digest_link_until_the_chip_is_removed(onboarded, sandbox):
    _, task_id = _changing_sync(onboarded, sandbox)
    at = _members_page(str(task_id))
    assert set(at.dataframe[0].value["user_email"]) == {JOINER, PROMOTED, LEAVER}
    assert at.toggle(key="members_removed").value  # a removal is one of the task's changes
    assert any(f"Check for updates #{task_id}" in c.value for c in at.caption)
    at.button(key="members_export").click().run()
    token = next(b.proto.url for b in at.get("link_button")).split("token=")[1]
    assert export.redeem_token(onboarded.store, token)[1].task_id == task_id

    chip = at.button(key="members_task_clear")
    assert chip.label == f"Changes of task #{task_id}"
    chip.click().run()
    assert not at.exception, at.exception
    assert "task" not in at.query_params
    everyone = paging.count(onboarded.store, MemberFilter())
    assert next(c.value for c in at.caption if c.value.startswith("Guest users")).endswith(f"of {everyone}")
    assert not at.toggle(key="members_removed").value


def test_a_link_with_a_task_that_is_not_a_number_shows_everyone(onboarded, sandbox):
    at = _members_page("x")
    assert any("not a task number" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == paging.PAGE_SIZE
