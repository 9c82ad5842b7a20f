"""Decisions: Keep, Remove or Needs info per snapshot row with an optional comment, by row or in bulk on the
filtered rows; the review table (the Members query over the snapshot); progress per partner and overall.

Every decision is checked in core (reviewer of that partner, campaign still open) and audited: one
`review_decision_log` row per member changed (who, when, before → after, comment) and one audit-log entry
per action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd

from core.members import columns, paging
from core.members.filters import MemberFilter
from core.members.paging import MemberView
from core.reviews import campaigns, snapshot
from core.reviews.errors import ReviewError
from core.security import audit
from core.security.roles import Actor
from core.store.database import Store

KEEP, REMOVE, NEEDS_INFO = "keep", "remove", "needs_info"
DECISIONS = {KEEP: "Keep", REMOVE: "Remove", NEEDS_INFO: "Needs info"}
UNDECIDED = "undecided"  # a filter value: rows with no decision
LABELS = {**DECISIONS, UNDECIDED: "Undecided"}
MAX_COMMENT = 2000


@dataclass(frozen=True)
class ReviewFilter:
    """The review table's filter: the Members filter, decisions (keys of LABELS; empty: any), and whether to
    list only the partners assigned to the reviewer."""

    members: MemberFilter = field(default_factory=MemberFilter)
    decisions: tuple[str, ...] = ()
    mine_only: bool = False

    def __post_init__(self) -> None:
        unknown = [d for d in self.decisions if d not in LABELS]
        if unknown:
            raise ReviewError(f"unknown decision {unknown[0]!r}; choose from {', '.join(LABELS)}")


def _conditions(
    store: Store, actor: Actor, campaign_id: int, rf: ReviewFilter, *, decidable: bool
) -> tuple[str, tuple[object, ...]]:
    """Conditions on `m` for the review filter's decisions and partners (`decidable`: only rows the actor may
    decide on)."""
    clauses, params = [], []
    if rf.decisions:
        chosen = [d for d in rf.decisions if d != UNDECIDED]
        either = ["m.decision = ANY(?::VARCHAR[])"] if chosen else []
        params += [chosen] if chosen else []
        if UNDECIDED in rf.decisions:
            either.append("m.decision IS NULL")
        clauses.append("(" + " OR ".join(either) + ")")
    partners = None
    if rf.mine_only:
        partners = campaigns.assigned_to(store, actor, campaign_id)
    if decidable:
        allowed = campaigns.reviewable_partners(store, actor, campaign_id)
        if allowed is not None:
            partners = allowed if partners is None else [b for b in partners if b in allowed]
    if partners is not None:
        clauses.append("m.partner_bc_id = ANY(?::VARCHAR[])")
        params.append(partners)
    return " AND ".join(clauses) or "true", tuple(params)


def view(store: Store, actor: Actor, campaign_id: int, rf: ReviewFilter, page_number: int = 1) -> MemberView:
    """One page of the campaign's snapshot with its decisions, filtered and sorted like the Members page."""
    campaigns.get(store, actor, campaign_id)
    where, params = _conditions(store, actor, campaign_id, rf, decidable=False)
    f = snapshot.review_filter(rf.members)
    return paging.view(store, f, page_number, src=snapshot.source(campaign_id, where, params))


def count_bulk(store: Store, actor: Actor, campaign_id: int, rf: ReviewFilter) -> int:
    """How many rows a bulk decision on this filter would touch (the rows the actor may decide on)."""
    campaigns.get(store, actor, campaign_id)
    where, params = _conditions(store, actor, campaign_id, rf, decidable=True)
    f = snapshot.review_filter(rf.members)
    return paging.count(store, f, src=snapshot.source(campaign_id, where, params))


def decide(
    store: Store,
    actor: Actor,
    campaign_id: int,
    partner_bc_id: str,
    member_key: str,
    decision: str,
    comment: str = "",
    now: datetime | None = None,
) -> None:
    """Record one member's decision (or change it while the campaign is open)."""
    campaign = _open_for(store, actor, campaign_id, decision, comment)
    allowed = campaigns.reviewable_partners(store, actor, campaign_id)
    if allowed is not None and partner_bc_id not in allowed:
        raise ReviewError("This partner is assigned to other reviewers: you cannot decide on its guest users.")
    where = "m.partner_bc_id = ? AND m.member_key = ?"
    with store.read() as cur:
        found = cur.execute(
            "SELECT count(*) FROM review_items m WHERE m.campaign_id = ? AND " + where,
            [campaign_id, partner_bc_id, member_key],
        ).fetchall()[0][0]
    if not found:
        raise ReviewError("That guest user is not in this campaign's snapshot.")
    _apply(store, actor, campaign, where, (partner_bc_id, member_key), decision, comment, now)


def decide_bulk(
    store: Store,
    actor: Actor,
    campaign_id: int,
    rf: ReviewFilter,
    decision: str,
    comment: str = "",
    *,
    expected: int,
    now: datetime | None = None,
) -> int:
    """Decide every filtered row the actor may decide on; `expected` is the count the person confirmed (from
    `count_bulk`): when the filter now selects another number of rows nothing is changed."""
    campaign = _open_for(store, actor, campaign_id, decision, comment)
    where, params = _conditions(store, actor, campaign_id, rf, decidable=True)
    f = snapshot.review_filter(rf.members)
    with store.write() as cur:
        ids_sql, ids_params = columns.query(
            store, f, (), "row_id", cur=cur, src=snapshot.source(campaign_id, where, params)
        )
        row_ids = [int(i) for i in cur.execute(ids_sql, ids_params).fetchnumpy()["row_id"]]
        if len(row_ids) != expected:
            raise ReviewError(
                f"The filter now selects {len(row_ids)} guest users, not the {expected} you confirmed: nothing "
                "was changed. Check the rows and confirm again."
            )
        return _apply(
            store, actor, campaign, "m.rowid IN (SELECT unnest(?::BIGINT[]))", (row_ids,), decision, comment, now
        )


def _open_for(store: Store, actor: Actor, campaign_id: int, decision: str, comment: str) -> campaigns.Campaign:
    campaign = campaigns.get(store, actor, campaign_id)
    campaigns.ensure_open(campaign)
    if decision not in DECISIONS:
        raise ReviewError(f"unknown decision {decision!r}; choose from {', '.join(DECISIONS.values())}")
    if len(comment) > MAX_COMMENT:
        raise ReviewError(f"Keep the comment under {MAX_COMMENT} characters.")
    return campaign


def _apply(
    store: Store,
    actor: Actor,
    campaign: campaigns.Campaign,
    where: str,
    params: tuple[object, ...],
    decision: str,
    comment: str,
    now: datetime | None,
) -> int:
    """Log before → after for the rows `where` selects whose decision or comment changes, then update them."""
    now = now or datetime.now(UTC)
    stored_comment = comment.strip() or None
    match = f"m.campaign_id = ? AND {where} AND (m.decision IS DISTINCT FROM ? OR m.comment IS DISTINCT FROM ?)"
    selected = [campaign.id, *params, decision, stored_comment]
    with store.write() as cur:
        # again under the write lock: a sign-off may have committed since `_open_for` read the campaign
        if cur.execute("SELECT closed_at FROM review_campaigns WHERE id = ?", [campaign.id]).fetchall()[0][0]:
            campaigns.ensure_open(campaigns.get(store, actor, campaign.id))
        cur.execute(
            f"""INSERT INTO review_decision_log (campaign_id, partner_bc_id, member_key, before, after, comment,
                                                 actor, "at")
                SELECT m.campaign_id, m.partner_bc_id, m.member_key, m.decision, ?, ?, ?, ?
                FROM review_items m WHERE {match}""",
            [decision, stored_comment, actor.email, now, *selected],
        )
        changed = int(
            cur.execute(
                f"UPDATE review_items AS m SET decision = ?, comment = ?, decided_by = ?, decided_at = ? WHERE {match}",
                [decision, stored_comment, actor.email, now, *selected],
            ).fetchall()[0][0]
        )
        audit.record(
            store,
            actor=actor.email,
            action="review.decide",
            target=f"campaign #{campaign.id}",
            outcome="ok",
            detail=f"{changed} guest users → {DECISIONS[decision]}"
            + (f"; comment: {stored_comment}" if stored_comment else ""),
            at=now,
        )
    return changed


def history(store: Store, actor: Actor, campaign_id: int, limit: int = 500) -> pd.DataFrame:
    """The newest decisions of a campaign: when, who, member, before → after, comment."""
    campaigns.get(store, actor, campaign_id)
    with store.read() as cur:
        frame = cur.execute(
            """SELECT l."at", l.actor, l.partner_bc_id, l.member_key, l.before, l.after, l.comment
               FROM review_decision_log l WHERE l.campaign_id = ? ORDER BY l."at" DESC LIMIT ?""",
            [campaign_id, limit],
        ).df()
    for column in ("before", "after"):
        frame[column] = frame[column].map(lambda d: LABELS.get(d, "Undecided") if d else "Undecided")
    return frame


def progress(store: Store, actor: Actor, campaign_id: int) -> pd.DataFrame:
    """Per partner (assigned to the actor first, then by name): rows, decided, Keep, Remove, Needs info."""
    campaigns.get(store, actor, campaign_id)
    mine = campaigns.assigned_to(store, actor, campaign_id)
    with store.read() as cur:
        return cur.execute(
            """SELECT partner_bc_id, min(coalesce(partner_name, partner_bc_id)) AS partner,
                      partner_bc_id = ANY(?::VARCHAR[]) AS assigned_to_you,
                      count(*) AS members, count(decision) AS decided,
                      count(*) FILTER (WHERE decision = 'keep') AS keep,
                      count(*) FILTER (WHERE decision = 'remove') AS remove,
                      count(*) FILTER (WHERE decision = 'needs_info') AS needs_info
               FROM review_items WHERE campaign_id = ? GROUP BY partner_bc_id
               ORDER BY assigned_to_you DESC, lower(min(coalesce(partner_name, partner_bc_id))), partner_bc_id""",
            [mine, campaign_id],
        ).df()
