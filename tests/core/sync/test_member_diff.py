"""The member diff as a pure function over Arrow tables: no database, the stored rows built by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from core.sync.member_diff import diff_partners
from core.sync.member_tables import TIMESTAMP, Snapshot
from core.tasks.jobs import Counts

T0, T1 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)


def _stored(rows: list[dict[str, object]]) -> pa.Table:
    """Stored members as `member_write` reads them (rowid in `rid`)."""
    base = {
        "partner_bc_id": "p1",
        "user_name": None,
        "finance_role": None,
        "relation_status": "BOUND",
        "last_seen": T0,
        "removed_at": None,
        "added_task_id": 1,
        "last_task_id": 1,
        "asset_count": 0,
        "assets": "",
        "asset_admin": False,
        "first_seen": T0,
        "first_task_id": 1,
        "moved": False,
    }
    full = [base | row for row in rows]
    schema = pa.schema(
        [
            ("rid", pa.int64()),
            ("member_key", pa.string()),
            ("partner_bc_id", pa.string()),
            ("user_id", pa.string()),
            ("user_name", pa.string()),
            ("user_email", pa.string()),
            ("user_role", pa.string()),
            ("finance_role", pa.string()),
            ("relation_status", pa.string()),
            ("last_seen", TIMESTAMP),
            ("removed_at", TIMESTAMP),
            ("added_task_id", pa.int64()),
            ("last_task_id", pa.int64()),
            ("asset_count", pa.int32()),
            ("assets", pa.string()),
            ("asset_admin", pa.bool_()),
            ("first_seen", TIMESTAMP),
            ("first_task_id", pa.int64()),
            ("moved", pa.bool_()),
        ]
    )
    return pa.Table.from_pylist(full, schema=schema)


def _fields(user_id: str, role: str) -> dict[str, str | None]:
    return {
        "user_id": user_id,
        "user_name": f"U{user_id}",
        "user_email": f"u{user_id}@a.example",
        "user_role": role,
        "finance_role": None,
        "relation_status": "BOUND",
    }


def _never(moved: list[str], rekeys: pa.Table) -> dict[str, pa.Table]:
    raise AssertionError("no invitee moved, so the stored rows are not read again")


def test_a_role_change_an_arrival_and_a_removal_without_a_database() -> None:
    stored = _stored(
        [
            {"rid": 0, "member_key": "1", "user_id": "1", "user_email": "u1@a.example", "user_role": "ADMIN"},
            {"rid": 1, "member_key": "2", "user_id": "2", "user_email": "u2@a.example", "user_role": "STANDARD"},
            {
                "rid": 2,
                "member_key": "3",
                "user_id": "3",
                "user_email": "u3@a.example",
                "user_role": "STANDARD",
                "removed_at": T0,
            },
        ]
    )
    snapshot = Snapshot(
        "p1",
        {"1": _fields("1", "STANDARD"), "4": _fields("4", "ADMIN")},
        [{"member_key": "4", "asset_id": "a1", "asset_type": "ADVERTISER", "asset_name": "Ads", "asset_role": "ADMIN"}],
    )

    diff = diff_partners({"p1": stored}, [snapshot], now=T1, task_id=2, restored=_never)

    assert diff.current_before == {"p1": 2}
    assert diff.counts == {"p1": Counts(added=1, updated=1, removed=1)}
    changes = sorted((r["member_key"], r["change"], r["old_value"], r["new_value"]) for r in diff.changes.to_pylist())
    assert changes == [
        ("1", "role_changed", "ADMIN", "STANDARD"),
        ("2", "removed", "STANDARD", None),
        ("4", "added", None, "ADMIN"),
    ]
    rows = {r["member_key"]: r for r in diff.rows.to_pylist()}
    assert rows["2"]["removed_at"] == T1
    assert rows["3"]["removed_at"] == T0  # the earlier removal is kept
    assert (rows["4"]["first_seen"], rows["4"]["asset_admin"], rows["4"]["asset_count"]) == (T1, True, 1)
    assert [key for key, row in rows.items() if row["dirty"]] == ["1", "4", "2"]
    assert diff.only([]).rows.num_rows == 0


def test_an_invitee_who_joins_is_re_keyed_through_the_callers_stored_rows() -> None:
    stored = _stored(
        [
            {
                "rid": 0,
                "member_key": "u9@a.example",
                "user_id": None,
                "user_email": "u9@a.example",
                "user_role": "STANDARD",
                "relation_status": "PENDING",
            }
        ]
    )
    asked: list[tuple[list[str], list[dict[str, object]]]] = []

    def restored(moved: list[str], rekeys: pa.Table) -> dict[str, pa.Table]:
        asked.append((moved, rekeys.to_pylist()))
        return {
            "p1": _stored(
                [
                    {
                        "rid": 0,
                        "member_key": "9",
                        "user_id": None,
                        "user_email": "u9@a.example",
                        "user_role": "STANDARD",
                        "relation_status": "PENDING",
                        "moved": True,
                    }
                ]
            )
        }

    diff = diff_partners(
        {"p1": stored}, [Snapshot("p1", {"9": _fields("9", "STANDARD")}, [])], now=T1, task_id=2, restored=restored
    )

    assert asked == [(["p1"], [{"partner_bc_id": "p1", "old_key": "u9@a.example", "new_key": "9"}])]
    assert [(r["member_key"], r["change"], r["new_value"]) for r in diff.changes.to_pylist()] == [
        ("9", "status_changed", "BOUND")
    ]  # the same member, joined: not removed and added again
    assert diff.counts == {"p1": Counts(updated=1)}


@pytest.mark.parametrize("removed", [0, 1])
def test_counts_of_an_unchanged_partner_are_absent(removed: int) -> None:
    stored = _stored(
        [
            {
                "rid": 0,
                "member_key": "1",
                "user_id": "1",
                "user_email": "u1@a.example",
                "user_role": "ADMIN",
                "user_name": "U1",
            }
        ]
    )
    members = {"1": _fields("1", "ADMIN")} if not removed else {}
    diff = diff_partners({"p1": stored}, [Snapshot("p1", members, [])], now=T1, task_id=2, restored=_never)
    assert diff.counts.get("p1", Counts()) == Counts(removed=removed)
