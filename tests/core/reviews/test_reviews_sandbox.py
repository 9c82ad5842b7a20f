"""Access reviews against the sandbox and real syncs: the snapshot does not move when the sandbox changes
members mid-campaign, and a requested removal turns Done once the sandbox removes the member and a sync runs."""

from __future__ import annotations

from core.members import paging
from core.members.filters import MemberFilter
from core.reviews import campaigns, decisions, remediation, snapshot
from core.reviews.campaigns import Scope
from core.reviews.decisions import ReviewFilter
from core.tasks import jobs
from tests.support.onboarding import run_sync
from tests.support.reviews import ADMIN_A, ANALYST_A
from tests.support.sandbox import control, monitored_partners


def _rows(store, campaign_id):
    shown = decisions.view(store, ANALYST_A, campaign_id, ReviewFilter())
    assert shown.pages == 1
    return shown.rows


def test_snapshot_holds_and_removal_turns_done_after_the_sandbox_removes_and_a_sync_runs(onboarded, sandbox):
    store = onboarded.store
    bc_id = monitored_partners(sandbox)[0].bc_id
    campaign = campaigns.create(store, ADMIN_A, name="Sandbox review", scope=Scope(partners=(bc_id,)))
    before = _rows(store, campaign.id)
    assert campaign.members == paging.count(store, MemberFilter(partners=(bc_id,))) == len(before) > 2
    leaver = before[before["user_email"].notna() & (before["status"] == "Joined")].iloc[0]
    rerole = before[(before["role"] == "Standard") & before["user_email"].notna()].iloc[-1]

    # mid-campaign, the partner's Business Center changes and a sync records it
    control(sandbox, "members/add", bc_id=bc_id, user_email="late.joiner@agency.example", user_name="Late Joiner")
    control(sandbox, "members/update", bc_id=bc_id, user_email=rerole.user_email, user_role="ADMIN")
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    after = _rows(store, campaign.id)
    assert after.drop(columns="flags").equals(before.drop(columns="flags"))
    late = snapshot.joined_after(store, campaign.id, campaigns.scope_filter(store, campaign.scope))
    assert late.rows["user_email"].tolist() == ["late.joiner@agency.example"]

    decisions.decide(store, ANALYST_A, campaign.id, bc_id, leaver.member_key, decisions.REMOVE, "left the agency")
    campaigns.close(store, ADMIN_A, campaign.id, accept_undecided=True)
    assert remediation.requests(store, ADMIN_A, campaign_id=campaign.id)["status"].tolist() == ["Requested"]

    control(sandbox, "members/remove", bc_id=bc_id, user_email=leaver.user_email)
    assert run_sync(onboarded, bc_id)[1] == jobs.COMPLETED
    done = remediation.requests(store, ADMIN_A, campaign_id=campaign.id)
    assert done["status"].tolist() == ["Done"]
    assert done["done_at"].notna().all()
    with store.read() as cur:
        removed_at = cur.execute(
            "SELECT removed_at FROM members WHERE partner_bc_id = ? AND member_key = ?", [bc_id, leaver.member_key]
        ).fetchall()[0][0]
    assert done["done_at"][0].to_pydatetime() == removed_at
