"""The member diff in plain Python: what the sync's Arrow diff (`core.sync.member_sync.apply_many`) must equal.

`make_plan` says, member by member, which rows and change rows make the stored members match a fetched
snapshot; `tests/core/sync/test_sync_sql.py` compares the database after `apply_many` with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from core.sync.member_diff import find_rekeys
from core.sync.member_tables import ADDED, FINANCE_ROLE_CHANGED, MEMBER_SCHEMA, REMOVED, ROLE_CHANGED, STATUS_CHANGED
from core.sync.safeguard import Plan
from core.tasks.jobs import Counts


@dataclass
class ReferencePlan(Plan):
    """The partner's member rows after this sync, its change rows, and the re-keyed invitees."""

    rows: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    rekeys: dict[str, str] = field(default_factory=dict)


_TRACKED = (("user_role", ROLE_CHANGED), ("finance_role", FINANCE_ROLE_CHANGED), ("relation_status", STATUS_CHANGED))


def stored_members(cur: duckdb.DuckDBPyConnection, bc_id: str) -> dict[str, dict]:
    cursor = cur.execute(f"SELECT {', '.join(MEMBER_SCHEMA.names)} FROM members WHERE partner_bc_id = ?", [bc_id])
    names = [d[0] for d in cursor.description]
    return {row[1]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def make_plan(
    stored: dict[str, dict],
    fetched: dict[str, dict[str, str | None]],
    *,
    partner_bc_id: str,
    task_id: int,
    now: datetime,
) -> ReferencePlan:
    """The member rows and change rows that make the stored members match `fetched` (pure function)."""
    stored = {key: dict(row) for key, row in stored.items()}
    plan = ReferencePlan(rekeys=find_rekeys(stored, fetched))
    for old_key, new_key in plan.rekeys.items():
        _move(stored, old_key, new_key)
    plan.current_before = sum(1 for row in stored.values() if row["removed_at"] is None)
    added = updated = removed = 0
    for key in sorted(stored.keys() | fetched.keys()):
        old, new = stored.get(key), fetched.get(key)
        change = _Change(plan.changes, task_id, partner_bc_id, key, now)
        if new is None:
            row = dict(old)  # type: ignore[arg-type]
            if row["removed_at"] is None:
                row["removed_at"] = now
                change.add(REMOVED, old=row["user_role"])
                removed += 1
        elif old is None or old["removed_at"] is not None:
            row = _seen(old or {"first_seen": now, "first_task_id": task_id}, new, partner_bc_id, key, now, task_id)
            row["added_task_id"] = task_id
            change.add(ADDED, new=new["user_role"])
            added += 1
        else:
            row = _seen(old, new, partner_bc_id, key, now, task_id)
            diffs = [(kind, old[name], new[name]) for name, kind in _TRACKED if old[name] != new[name]]
            for kind, before, after in diffs:
                change.add(kind, old=before, new=after)
            updated += bool(diffs)
        plan.rows.append(row)
    plan.counts = Counts(added, updated, removed)
    return plan


def _seen(base: dict, new: dict, partner_bc_id: str, key: str, now: datetime, task_id: int) -> dict:
    return {
        **{name: base.get(name) for name in MEMBER_SCHEMA.names},
        **new,
        "partner_bc_id": partner_bc_id,
        "member_key": key,
        "last_seen": now,
        "removed_at": None,
        "last_task_id": task_id,
    }


@dataclass
class _Change:
    sink: list[dict]
    task_id: int
    partner_bc_id: str
    member_key: str
    at: datetime

    def add(self, change: str, *, old: str | None = None, new: str | None = None) -> None:
        self.sink.append(
            {
                "task_id": self.task_id,
                "partner_bc_id": self.partner_bc_id,
                "member_key": self.member_key,
                "change": change,
                "old_value": old,
                "new_value": new,
                "changed_at": self.at,
            }
        )


def _move(stored: dict[str, dict], old_key: str, new_key: str) -> None:
    row = stored.pop(old_key)
    history = stored.pop(new_key, None)  # an earlier, removed membership under the new key
    if history is not None and history["first_seen"] < row["first_seen"]:
        row["first_seen"], row["first_task_id"] = history["first_seen"], history["first_task_id"]
    row["member_key"] = new_key
    stored[new_key] = row
