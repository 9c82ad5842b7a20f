"""The member diff as a pure function: re-added members, invitees re-keyed both ways, the safeguard edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.sync import safeguard
from tests.support.reference_plan import make_plan

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)


def _fetched(
    key: str, email: str, *, user_id: str | None = None, status: str = "BOUND", role: str = "STANDARD"
) -> dict[str, str | None]:
    return {
        "user_id": user_id,
        "user_name": None,
        "user_email": email,
        "user_role": role,
        "finance_role": None,
        "relation_status": status,
    }


def _stored(key: str, email: str, *, removed: datetime | None = None, **fetched: str | None) -> dict:
    row = {
        "partner_bc_id": "p",
        "member_key": key,
        "first_seen": T0,
        "last_seen": T0,
        "removed_at": removed,
        "first_task_id": 1,
        "added_task_id": 1,
        "last_task_id": 1,
    }
    return row | _fetched(key, email, **fetched)


def _members(n: int) -> dict[str, dict]:
    return {str(i): _stored(str(i), f"u{i}@a.example", user_id=str(i)) for i in range(n)}


def test_returning_member_is_added_again_and_keeps_first_seen():
    stored = {"7": _stored("7", "back@a.example", user_id="7", removed=T0)}
    plan = make_plan(stored, {"7": _fetched("7", "back@a.example", user_id="7")}, partner_bc_id="p", task_id=2, now=T1)
    (row,) = plan.rows
    assert (row["first_seen"], row["removed_at"], row["added_task_id"]) == (T0, None, 2)
    assert [c["change"] for c in plan.changes] == ["added"]


def test_member_back_to_invitee_is_rekeyed_to_its_email_not_removed():
    stored = {"9": _stored("9", "x@a.example", user_id="9")}
    plan = make_plan(
        stored,
        {"x@a.example": _fetched("x@a.example", "x@a.example", status="PENDING")},
        partner_bc_id="p",
        task_id=2,
        now=T1,
    )
    assert plan.rekeys == {"9": "x@a.example"}
    assert [(r["member_key"], r["first_seen"], r["removed_at"]) for r in plan.rows] == [("x@a.example", T0, None)]
    assert [(c["change"], c["old_value"], c["new_value"]) for c in plan.changes] == [
        ("status_changed", "BOUND", "PENDING")
    ]
    assert plan.counts.removed == 0


@pytest.mark.parametrize(("removed", "halts"), [(2, False), (3, True)])
def test_safeguard_halts_only_above_the_threshold(removed, halts):
    stored = _members(10)
    fetched = {k: _fetched(k, r["user_email"], user_id=k) for k, r in list(stored.items())[removed:]}
    plan = make_plan(stored, fetched, partner_bc_id="p", task_id=2, now=T1)
    assert plan.counts.removed == removed
    if halts:
        with pytest.raises(safeguard.SyncHalted, match="remove 3 of 10 guest users of Agency"):
            safeguard.check_safeguard(plan, partner_name="Agency", threshold=20)
    else:
        safeguard.check_safeguard(plan, partner_name="Agency", threshold=20)
