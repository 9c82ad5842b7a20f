"""Member sync against the sandbox: first sync, additions, removals, role/status/finance changes, invitees
without user_id, the mass-removal safeguard, and faults mid-sync (retried, or failing with nothing lost)."""

from __future__ import annotations

import pytest

from core.accounts import partners
from core.members import changes, paging
from core.members.filters import MemberFilter
from core.sync import safeguard
from core.tasks import jobs
from tests.support.compare import assert_matches_world, table_state
from tests.support.onboarding import run_sync
from tests.support.sandbox import control, monitored_partners, world
from tests.support.services import ADMIN_ACTOR


def _bc(bc_id: str, world_json: dict) -> dict:
    return next(bc for bc in world_json["business_centers"] if bc["bc_info"]["bc_id"] == bc_id)


def _bound(bc: dict, role: str) -> list[dict]:
    return [
        m
        for m in bc["members"]
        if m["relation_status"] == "BOUND" and m["user_role"] == role and not m["user_email"].startswith("monitor@")
    ]


def _changes(svc, task_id: int) -> set[tuple]:
    with svc.store.read() as cur:
        return set(
            cur.execute(
                "SELECT partner_bc_id, member_key, change, old_value, new_value FROM member_changes WHERE task_id = ?",
                [task_id],
            ).fetchall()
        )


def test_first_sync_matches_world_and_is_a_baseline(onboarded, sandbox):
    assert_matches_world(onboarded, sandbox)
    invitees = paging.page(onboarded.store, MemberFilter(statuses=("PENDING",)), limit=1000)
    assert len(invitees) > 0
    assert set(invitees["member_key"]) == set(invitees["user_email"].str.lower())  # keyed by e-mail
    syncs = changes.syncs(onboarded.store)
    assert syncs["baseline"].any()
    assert changes.summary_line(onboarded.store) == "No guest user changes since last week."
    assert paging.count(onboarded.store, MemberFilter(flags=("new_member",))) == 0
    statuses = {p.bc_id: p.status for p in partners.all_current(onboarded.store)}
    assert {statuses[p.bc_id] for p in monitored_partners(sandbox)} == {partners.ONBOARDED}


def test_additions_removals_and_role_changes_between_syncs(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    bc = _bc(bc_id, world(sandbox))
    standard, admin = _bound(bc, "STANDARD"), _bound(bc, "ADMIN")
    promoted, demoted, gone = standard[0], admin[0], standard[1]
    first_seen_before = paging.page(onboarded.store, MemberFilter(search=promoted["user_email"]))["first_seen"][0]
    control(
        sandbox,
        "members/add",
        bc_id=bc_id,
        user_email="New.Admin@Agency.example",
        user_name="New Admin",
        user_role="ADMIN",
    )
    control(
        sandbox,
        "members/add",
        bc_id=bc_id,
        user_email="invitee@gmail.com",
        user_role="STANDARD",
        relation_status="PENDING",
    )
    control(sandbox, "members/update", bc_id=bc_id, user_id=promoted["user_id"], user_role="ADMIN")
    control(
        sandbox, "members/update", bc_id=bc_id, user_id=demoted["user_id"], user_role="STANDARD", finance_role="MANAGER"
    )
    control(sandbox, "members/remove", bc_id=bc_id, user_id=gone["user_id"])

    task_id, status = run_sync(onboarded, bc_id)

    assert status == jobs.COMPLETED
    assert_matches_world(onboarded, sandbox)
    new_admin = next(m for m in _bc(bc_id, world(sandbox))["members"] if m["user_email"] == "new.admin@agency.example")
    old_finance = demoted.get("ext_user_role", {}).get("finance_role")
    expected = {
        (bc_id, new_admin["user_id"], "added", None, "ADMIN"),
        (bc_id, "invitee@gmail.com", "added", None, "STANDARD"),
        (bc_id, promoted["user_id"], "role_changed", "STANDARD", "ADMIN"),
        (bc_id, demoted["user_id"], "role_changed", "ADMIN", "STANDARD"),
        (bc_id, gone["user_id"], "removed", "STANDARD", None),
    }
    if old_finance != "MANAGER":
        expected.add((bc_id, demoted["user_id"], "finance_role_changed", old_finance, "MANAGER"))
    assert _changes(onboarded, task_id) == expected
    new = paging.page(onboarded.store, MemberFilter(flags=("new_member",)))
    assert set(new["member_key"]) == {new_admin["user_id"], "invitee@gmail.com"}
    invitee = paging.page(onboarded.store, MemberFilter(search="invitee@gmail.com"))
    assert set(invitee["flags"][0]) == {"Personal e-mail", "Invitation pending", "New since last sync"}
    assert (
        paging.page(onboarded.store, MemberFilter(search=promoted["user_email"]))["first_seen"][0] == first_seen_before
    )
    removed = paging.page(onboarded.store, MemberFilter(search=gone["user_email"], include_removed=True))
    assert removed["removed_at"].notna().all()
    assert paging.count(onboarded.store, MemberFilter(search=gone["user_email"])) == 0
    assert changes.summary_line(onboarded.store).startswith("2 new admins since last week")


def test_invitee_who_joins_keeps_its_row_and_history(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="joiner@agency.example", relation_status="PENDING")
    first_task, _ = run_sync(onboarded, bc_id)
    first_seen = paging.page(onboarded.store, MemberFilter(search="joiner@"))["first_seen"][0]
    joined = control(
        sandbox,
        "members/update",
        bc_id=bc_id,
        user_email="joiner@agency.example",
        relation_status="BOUND",
        user_name="Joiner",
    )["member"]

    task_id, status = run_sync(onboarded, bc_id)

    assert status == jobs.COMPLETED
    assert_matches_world(onboarded, sandbox)
    row = paging.page(onboarded.store, MemberFilter(search="joiner@", include_removed=True))
    assert list(row["member_key"]) == [joined["user_id"]]  # one row, now keyed by user_id
    assert row["first_seen"][0] == first_seen
    assert _changes(onboarded, task_id) == {(bc_id, joined["user_id"], "status_changed", "PENDING", "BOUND")}
    assert (bc_id, joined["user_id"], "added", None, "STANDARD") in _changes(onboarded, first_task)  # history follows


def test_mass_removal_safeguard_halts_and_applies_nothing(onboarded, sandbox):
    bc_id = monitored_partners(sandbox)[0].bc_id
    bc = _bc(bc_id, world(sandbox))
    doomed = [m for m in bc["members"] if not m["user_email"].startswith("monitor@")][: len(bc["members"]) // 4 + 1]
    for m in doomed:
        control(sandbox, "members/remove", bc_id=bc_id, user_email=m["user_email"])
    before = table_state(onboarded)

    task_id, status = run_sync(onboarded, bc_id)

    assert status == jobs.HALTED  # its own state on Automation, not "Not completed"
    task = jobs.list_tasks(onboarded.store).set_index("id").loc[task_id]
    assert "mass-removal safeguard" in task["error"]
    assert f"remove {len(doomed)} of {len(bc['members'])}" in task["error"]
    assert set(jobs.list_jobs(onboarded.store, task_id)["status"]) == {jobs.HALTED}
    assert table_state(onboarded) == before  # assets and members of that partner as they were
    halted = partners.get(onboarded.store, bc_id)
    assert halted.status == partners.HALTED_SAFEGUARD  # not "Sync failed"
    assert f"remove {len(doomed)} of {len(bc['members'])}" in halted.last_error
    assert "raise the safeguard in Settings → Sync policy" in halted.last_error  # how to accept the removal

    safeguard.set_threshold_pct(onboarded.store, ADMIN_ACTOR, 50)
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    assert_matches_world(onboarded, sandbox)
    assert partners.get(onboarded.store, bc_id).status == partners.ONBOARDED


@pytest.mark.parametrize(
    "fault", [{"code": 40100}, {"code": 50000}, {"http_status": 504}], ids=["40100", "50000", "http-504"]
)
def test_transient_faults_mid_sync_are_retried(onboarded, sandbox, fault):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="late@agency.example", user_role="ADMIN")
    control(sandbox, "faults", route="bc/member/get/", count=2, **fault)
    control(sandbox, "faults", route="bc/asset/member/get/", count=2, **fault)

    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    assert control(sandbox, "faults/clear") == {"ok": True}
    assert_matches_world(onboarded, sandbox)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"code": 50000}, partners.SYNC_FAILED),
        ({"http_status": 504}, partners.SYNC_FAILED),
        ({"code": 40105}, partners.RECONNECT_REQUIRED),
    ],
    ids=["50000", "http-504", "40105"],
)
def test_failing_partner_keeps_its_data_until_the_next_good_sync(onboarded, sandbox, fault, status):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="pending.change@agency.example")
    before = table_state(onboarded)
    control(sandbox, "faults", route="bc/asset/member/get/", count=50, **fault)

    assert run_sync(onboarded, bc_id)[1] == jobs.NOT_COMPLETED
    assert table_state(onboarded) == before
    partner = partners.get(onboarded.store, bc_id)
    assert partner.status == status

    control(sandbox, "faults/clear")
    if status == partners.RECONNECT_REQUIRED:
        return  # an admin reconnects (tests/core/connect); nothing was lost meanwhile
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    assert_matches_world(onboarded, sandbox)
    assert partners.get(onboarded.store, bc_id).status == partners.ONBOARDED
