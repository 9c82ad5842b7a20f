"""The member sync's Arrow tables: their schemas, the change kinds, and a fetched snapshot as tables.

What TikTok says about a partner's members (`Snapshot`) becomes the tables `core.sync.member_diff` joins with the
stored rows; `core.sync.member_write` writes rows of these schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

ADDED, REMOVED = "added", "removed"

ROLE_CHANGED, FINANCE_ROLE_CHANGED, STATUS_CHANGED = "role_changed", "finance_role_changed", "status_changed"


TIMESTAMP = pa.timestamp("us", tz="UTC")

MEMBER_SCHEMA = pa.schema(
    [
        ("partner_bc_id", pa.string()),
        ("member_key", pa.string()),
        ("user_id", pa.string()),
        ("user_name", pa.string()),
        ("user_email", pa.string()),
        ("user_role", pa.string()),
        ("finance_role", pa.string()),
        ("relation_status", pa.string()),
        ("first_seen", TIMESTAMP),
        ("last_seen", TIMESTAMP),
        ("removed_at", TIMESTAMP),
        ("first_task_id", pa.int64()),
        ("added_task_id", pa.int64()),
        ("last_task_id", pa.int64()),
    ]
)

ASSET_SCHEMA = pa.schema(
    [
        ("partner_bc_id", pa.string()),
        ("member_key", pa.string()),
        ("asset_id", pa.string()),
        ("asset_type", pa.string()),
        ("asset_name", pa.string()),
        ("asset_role", pa.string()),
        ("synced_at", TIMESTAMP),
    ]
)

CHANGE_SCHEMA = pa.schema(
    [
        ("task_id", pa.int64()),
        ("partner_bc_id", pa.string()),
        ("member_key", pa.string()),
        ("change", pa.string()),
        ("old_value", pa.string()),
        ("new_value", pa.string()),
        ("changed_at", TIMESTAMP),
    ]
)

FIELDS = ("user_id", "user_name", "user_email", "user_role", "finance_role", "relation_status")

# Converted from the snapshot's dicts as struct arrays (in C++, unlike `Table.from_pylist`'s Python loops).
_FIELDS_STRUCT = pa.struct([(name, pa.string()) for name in FIELDS])

_ROLE_STRUCT = pa.struct([f for f in ASSET_SCHEMA if f.name not in ("partner_bc_id", "synced_at")])

REACH = ("asset_count", "assets", "asset_admin")


@dataclass(frozen=True)
class Snapshot:
    """What TikTok says now about one partner BC's members and their reach on your shared assets."""

    partner_bc_id: str
    members: dict[str, dict[str, str | None]]  # member key → fetched fields
    asset_roles: list[dict[str, str | None]]  # member_key, asset_id, asset_type, asset_name, asset_role


def member_key(item: Mapping[str, Any]) -> str | None:
    """user_id, or the lower-cased e-mail of an invitee without one; None when neither is present."""
    user_id = str(item.get("user_id") or "").strip()
    if user_id:
        return user_id
    email = str(item.get("user_email") or "").strip().lower()
    return email or None


def fetched_table(snapshot: Snapshot) -> pa.Table:
    """The snapshot's members as a table, in fetched order."""
    members = snapshot.members
    fields = pa.Table.from_struct_array(pa.array(list(members.values()), type=_FIELDS_STRUCT))
    keys = pa.table(
        {
            "partner_bc_id": pa.array([snapshot.partner_bc_id] * len(members), pa.string()),
            "member_key": pa.array(list(members), pa.string()),
        }
    )
    return pa.Table.from_arrays([*keys.columns, *fields.columns], names=[*keys.column_names, *FIELDS])


def asset_table(snapshot: Snapshot, now: datetime) -> pa.Table:
    unique = {(r["member_key"], r["asset_id"], r["asset_type"]): r for r in snapshot.asset_roles}
    roles = pa.Table.from_struct_array(pa.array(list(unique.values()), type=_ROLE_STRUCT))
    n = roles.num_rows
    return pa.Table.from_arrays(
        [pa.array([snapshot.partner_bc_id] * n, pa.string()), *roles.columns, pa.array([now] * n, TIMESTAMP)],
        schema=ASSET_SCHEMA,
    )
