"""Remediation: the Remove decisions of signed-off campaigns are removal requests, one list per partner.

PartnerWatch only reads TikTok, so the partner removes the people; a request is **Done** once a sync has
recorded the member's removal after the campaign's snapshot (the member change log's `removed`, with its
date), **Overdue** when it is not done `overdue_days` after sign-off, and **Requested** until then. The
status is read from the change log, so each later sync updates it without writing here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from core.security.roles import GUEST, Actor, NotAllowed, require_reader
from core.security.safe_csv import csv_chunks
from core.store.database import Store

REQUESTED, DONE, OVERDUE = "Requested", "Done", "Overdue"
_SQL = """
WITH requested AS (
    SELECT c.id AS campaign_id, c.name AS campaign, c.closed_at AS requested_at, c.snapshot_at,
           c.closed_at + c.overdue_days * INTERVAL '1 day' AS due_at, i.partner_bc_id,
           coalesce(i.partner_name, i.partner_bc_id) AS partner, i.member_key,
           coalesce(i.user_name, i.user_email, i.member_key) AS member, i.user_email, i.user_id, i.comment
    FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id
    WHERE c.closed_at IS NOT NULL AND i.decision = 'remove' AND (CAST(? AS BIGINT) IS NULL OR c.id = ?)
      AND (CAST(? AS VARCHAR) IS NULL OR i.partner_bc_id = ?)),
removed AS (
    SELECT r.campaign_id, r.partner_bc_id, r.member_key, min(ch.changed_at) AS done_at
    FROM requested r JOIN member_changes ch
      ON ch.partner_bc_id = r.partner_bc_id AND ch.member_key = r.member_key AND ch.change = 'removed'
     AND ch.changed_at >= r.snapshot_at
    GROUP BY r.campaign_id, r.partner_bc_id, r.member_key)
SELECT r.campaign_id, r.campaign, r.partner_bc_id, r.partner, r.member_key, r.member, r.user_email, r.user_id,
       r.comment, r.requested_at, r.due_at, d.done_at,
       CASE WHEN d.done_at IS NOT NULL THEN 'Done' WHEN ? > r.due_at THEN 'Overdue' ELSE 'Requested' END AS status
FROM requested r LEFT JOIN removed d USING (campaign_id, partner_bc_id, member_key)
ORDER BY r.campaign_id DESC, lower(r.partner), r.partner_bc_id, lower(r.member), r.member_key"""


def _requests(store: Store, campaign_id: int | None, partner_bc_id: str | None, now: datetime | None) -> pd.DataFrame:
    now = now or datetime.now(UTC)
    params = [campaign_id, campaign_id, partner_bc_id, partner_bc_id, now]
    with store.read() as cur:
        return cur.execute(_SQL, params).df()


def requests(
    store: Store, actor: Actor, *, campaign_id: int | None = None, now: datetime | None = None
) -> pd.DataFrame:
    """Every removal request (of one campaign, or all), with its status and, when done, the removal date."""
    require_reader(actor, "see removal requests")
    return _requests(store, campaign_id, None, now)


def for_partner_guest(store: Store, actor: Actor, partner_bc_id: str, now: datetime | None = None) -> pd.DataFrame:
    """The open requests (Requested or Overdue) for the guest user's own partner: who to remove, by when.

    A partner's guest user sees no campaign, only what their own Business Center is asked to do.
    """
    if actor.role != GUEST and not actor.can_read:
        raise NotAllowed(f"Your role ({actor.role}) cannot see removal requests.")
    frame = _requests(store, None, partner_bc_id, now)
    return frame[frame["status"] != DONE][["member", "user_email", "user_id", "requested_at", "due_at", "status"]]


def summary(frame: pd.DataFrame) -> dict[str, int]:
    """How many requests are Requested, Done and Overdue."""
    counts: dict[str, int] = (
        {str(k): int(v) for k, v in frame["status"].value_counts().items()} if not frame.empty else {}
    )
    return {status: counts.get(status, 0) for status in (REQUESTED, DONE, OVERDUE)}


REQUEST_COLUMNS = ["Member", "Email", "User ID", "Partner", "Partner BC ID", "Status", "Due", "Removed at", "Comment"]


def request_csv(store: Store, actor: Actor, campaign_id: int, partner_bc_id: str, now: datetime | None = None) -> bytes:
    """The removal list of one partner as a formula-safe CSV (to send to the partner)."""
    require_reader(actor, "download removal requests")
    frame = _requests(store, campaign_id, partner_bc_id, now)
    rows = [
        (
            r.member,
            r.user_email,
            r.user_id,
            r.partner,
            r.partner_bc_id,
            r.status,
            _day(r.due_at),
            _day(r.done_at),
            r.comment,
        )
        for r in frame.itertuples()
    ]
    return b"".join(csv_chunks(REQUEST_COLUMNS, [rows]))


def _day(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d")  # type: ignore[arg-type]  # a date-like cell of the frame
