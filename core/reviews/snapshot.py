"""The snapshot of a campaign: the guest users in scope frozen at creation (one bulk INSERT ... SELECT over the
Members query), how the Members query machinery reads it back (`source`), and the members who joined after it.

The snapshot keeps the columns of `members` the query reads, the partner's name and the keys of the flags each
member had, so nothing a later sync, rename or setting changes moves it.
"""

from __future__ import annotations

from core.members import columns, flags, paging
from core.members.filters import MemberFilter
from core.members.paging import MemberView
from core.members.source import Source
from core.store.cursor import Cursor
from core.store.database import Store

# columns copied from `members` as they are
_COPIED = (
    "partner_bc_id",
    "member_key",
    "user_id",
    "user_name",
    "user_email",
    "user_role",
    "finance_role",
    "relation_status",
    "first_seen",
    "last_seen",
    "removed_at",
    "assets",
    "asset_count",
    "asset_admin",
    "member_lower",
    "email_lower",
    "email_domain",
    "row_flag_count",
)
DECISION_COLUMNS = (
    ("partner", "m.partner_name"),
    ("partner_lower", "lower(m.partner_name)"),
    ("decision", "m.decision"),
    ("comment", "m.comment"),
    ("decided_by", "m.decided_by"),
    ("decided_at", "m.decided_at"),
)


def source(campaign_id: int, where: str = "true", params: tuple[object, ...] = ()) -> Source:
    """The campaign's frozen rows as the Members query reads them (`where`: more conditions on `m`)."""
    return Source(
        table="review_items",
        where=f"m.campaign_id = ? AND ({where})",
        params=(campaign_id, *params),
        flag_keys="flag_keys",
        columns=DECISION_COLUMNS,
        # the partner names as frozen (an int from code, not user text: the ordering queries take no parameters)
        partners=f"(SELECT partner_bc_id AS bc_id, min(partner_name) AS name FROM review_items "
        f"WHERE campaign_id = {int(campaign_id)} GROUP BY partner_bc_id)",
    )


def review_filter(f: MemberFilter) -> MemberFilter:
    """A filter over a snapshot: every frozen row is a member of the snapshot (none is "removed" in it)."""
    return MemberFilter(**{**f.__dict__, "include_removed": True})


def freeze(cur: Cursor, store: Store, campaign_id: int, f: MemberFilter) -> int:
    """Copy the members `f` selects into the campaign's snapshot in one INSERT ... SELECT; returns the rows.

    The Members query gives each member's row id and flag columns; the raw columns come from `members` by
    row id, so the snapshot holds TikTok's codes (the query's labels are applied when it is read back).
    """
    flag_columns = columns.FLAG_COLUMNS
    flag_list = ", ".join(
        f"CASE WHEN s.{column} THEN '{flag.key}' END" for column, flag in zip(flag_columns, flags.FLAGS, strict=True)
    )
    selected, params = columns.query(store, f, flag_columns, ", ".join(["row_id", *flag_columns]), cur=cur)
    copied = ", ".join(f"m.{c}" for c in _COPIED)
    keys = (
        f"array_remove(ARRAY[{flag_list}]::VARCHAR[], NULL)"
        if store.dialect == "postgresql"
        else f"list_filter([{flag_list}], lambda x: x IS NOT NULL)"
    )
    sql = f"""INSERT INTO review_items (campaign_id, partner_name, {", ".join(_COPIED)}, flag_keys)
              SELECT ?, p.name, {copied}, {keys}
              FROM ({selected}) s JOIN members m ON m.rowid = s.row_id
              LEFT JOIN partners p ON p.bc_id = m.partner_bc_id"""
    return int(cur.execute(sql, [campaign_id, *params]).fetchall()[0][0])


def joined_after(store: Store, campaign_id: int, f: MemberFilter, page_number: int = 1) -> MemberView:
    """Current members in the campaign's scope (`f`) who are not in its snapshot: they joined after it."""
    not_frozen = Source(
        where="NOT EXISTS (SELECT 1 FROM review_items r WHERE r.campaign_id = ? "
        "AND r.partner_bc_id = m.partner_bc_id AND r.member_key = m.member_key)",
        params=(campaign_id,),
    )
    return paging.view(store, f, page_number, src=not_frozen)
