"""Campaigns: creating one (admins; freezes the snapshot), reading them (admins and analysts), reviewers per
partner, and the sign-off that makes a campaign read-only and stores its attestation report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from core.members import flags
from core.members.filters import MemberFilter
from core.reviews import report, snapshot
from core.reviews.errors import CampaignClosed, ReviewError
from core.security import audit
from core.security.roles import Actor, require_admin, require_reader
from core.store.database import Store

# Reads here may run on the write cursor of a sign-off, which then streams the report through it: every
# result is fetched to its end (`fetchall`), as DuckDB refuses new work on a cursor with an unfinished one.

DEFAULT_OVERDUE_DAYS = 14
ONBOARDED = ("connected", "reconnect_required", "sync_failed", "safeguard_halted")  # partners with a token


@dataclass(frozen=True)
class Scope:
    """Which guest users a campaign reviews: chosen partners (none: every onboarded partner), optionally only
    partner admins, optionally only flagged members."""

    partners: tuple[str, ...] = ()
    admins_only: bool = False
    flagged_only: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scope:
        data = json.loads(text)
        return cls(tuple(data["partners"]), bool(data["admins_only"]), bool(data["flagged_only"]))

    def describe(self, names: dict[str, str]) -> str:
        who = ", ".join(names.get(b, b) for b in self.partners) if self.partners else "all onboarded partners"
        parts = [who]
        if self.admins_only:
            parts.append("partner admins only")
        if self.flagged_only:
            parts.append("flagged members only")
        return "; ".join(parts)


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    scope: Scope
    due_date: date | None
    overdue_days: int
    created_by: str
    snapshot_at: datetime
    members: int
    closed_by: str | None
    closed_at: datetime | None
    undecided: int | None
    csv_sha256: str | None
    csv_rows: int | None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None


_FIELDS = (
    "id, name, scope, due_date, overdue_days, created_by, snapshot_at, members, closed_by, closed_at, undecided, "
    "csv_sha256, csv_rows"
)


def _campaign(row: tuple[Any, ...]) -> Campaign:
    values = list(row)
    values[2] = Scope.from_json(values[2])
    return Campaign(*values)


def scope_filter(store: Store, scope: Scope) -> MemberFilter:
    """The Members filter selecting a scope's current guest users."""
    partners = scope.partners or tuple(onboarded_partners(store))
    return MemberFilter(
        partners=partners or ("-",),  # no onboarded partner: nobody (an empty tuple would mean "all")
        roles=("ADMIN",) if scope.admins_only else (),
        flags=tuple(flags.BY_KEY) if scope.flagged_only else (),
    )


def onboarded_partners(store: Store) -> dict[str, str]:
    """Partner BC id → name of the partners PartnerWatch has a connection to (Onboarded or needing attention)."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT bc_id, coalesce(name, bc_id) FROM partners WHERE removed_at IS NULL AND connection = ANY(?) "
            "ORDER BY lower(name), bc_id",
            [list(ONBOARDED)],
        ).fetchall()
    return dict(rows)


def create(
    store: Store,
    actor: Actor,
    *,
    name: str,
    scope: Scope,
    due_date: date | None = None,
    reviewers: dict[str, list[str]] | None = None,
    overdue_days: int = DEFAULT_OVERDUE_DAYS,
    now: datetime | None = None,
) -> Campaign:
    """Create a campaign and freeze its snapshot (admins; audited). `reviewers`: partner BC id → e-mails; a
    partner left out is reviewed by every analyst."""
    require_admin(actor, "create access review campaigns")
    name = name.strip()
    if not name:
        raise ReviewError("Give the campaign a name (for example “Q3 2026 partner access review”).")
    if overdue_days < 1:
        raise ReviewError("Removals become overdue after at least 1 day.")
    now = now or datetime.now(UTC)
    f = scope_filter(store, scope)
    with store.write() as cur:
        campaign_id = int(
            cur.execute(
                """INSERT INTO review_campaigns (name, scope, due_date, overdue_days, created_by, snapshot_at)
                   VALUES (?, ?, ?, ?, ?, ?) RETURNING id""",
                [name, scope.to_json(), due_date, overdue_days, actor.email, now],
            ).fetchall()[0][0]
        )
        rows = snapshot.freeze(cur, store, campaign_id, f)
        cur.execute("UPDATE review_campaigns SET members = ? WHERE id = ?", [rows, campaign_id])
        for bc_id, emails in (reviewers or {}).items():
            for email in sorted({e.strip().lower() for e in emails if e.strip()}):
                cur.execute("INSERT INTO review_reviewers VALUES (?, ?, ?)", [campaign_id, bc_id, email])
        audit.record(
            store,
            actor=actor.email,
            action="review.create",
            target=f"campaign #{campaign_id}",
            outcome="ok",
            detail=f"{name!r}: {rows} guest users frozen; scope {scope.to_json()}",
        )
    return get(store, actor, campaign_id)


def get(store: Store, actor: Actor, campaign_id: int) -> Campaign:
    """A campaign (admins and analysts); ReviewError when it does not exist."""
    require_reader(actor, "see access reviews")
    with store.read() as cur:
        rows = cur.execute(f"SELECT {_FIELDS} FROM review_campaigns WHERE id = ?", [campaign_id]).fetchall()
    if not rows:
        raise ReviewError(f"Access review #{campaign_id} does not exist.")
    return _campaign(rows[0])


def list_campaigns(store: Store, actor: Actor) -> list[Campaign]:
    """Every campaign, newest first (admins and analysts)."""
    require_reader(actor, "see access reviews")
    with store.read() as cur:
        rows = cur.execute(f"SELECT {_FIELDS} FROM review_campaigns ORDER BY id DESC").fetchall()
    return [_campaign(row) for row in rows]


def reviewers(store: Store, campaign_id: int) -> dict[str, list[str]]:
    """Partner BC id → the reviewers assigned to it (partners not listed: every analyst)."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT partner_bc_id, array_agg(reviewer ORDER BY reviewer) FROM review_reviewers WHERE campaign_id = ? "
            "GROUP BY partner_bc_id",
            [campaign_id],
        ).fetchall()
    return dict(rows)


def partners_of(store: Store, campaign_id: int) -> dict[str, str]:
    """Partner BC id → name (as frozen) of the partners in the snapshot."""
    with store.read() as cur:
        rows = cur.execute(
            "SELECT partner_bc_id, min(coalesce(partner_name, partner_bc_id)) AS name FROM review_items "
            "WHERE campaign_id = ? GROUP BY partner_bc_id "
            "ORDER BY lower(min(coalesce(partner_name, partner_bc_id))), partner_bc_id",
            [campaign_id],
        ).fetchall()
    return dict(rows)


def reviewable_partners(store: Store, actor: Actor, campaign_id: int) -> list[str] | None:
    """The partners `actor` may decide on: None for all (admins), else those assigned to them or to nobody."""
    require_reader(actor, "review access")
    if actor.is_admin:
        return None
    assigned = reviewers(store, campaign_id)
    return [b for b in partners_of(store, campaign_id) if b not in assigned or actor.email.lower() in assigned[b]]


def assigned_to(store: Store, actor: Actor, campaign_id: int) -> list[str]:
    """The partners explicitly assigned to `actor` (what they see first)."""
    return [b for b, emails in reviewers(store, campaign_id).items() if actor.email.lower() in emails]


def ensure_open(campaign: Campaign) -> None:
    if campaign.closed:
        raise CampaignClosed(
            f"Access review #{campaign.id} was signed off on {campaign.closed_at:%Y-%m-%d %H:%M UTC}: it is "
            "read-only. Start a new campaign to review again."
        )


def close(
    store: Store, actor: Actor, campaign_id: int, *, accept_undecided: bool = False, now: datetime | None = None
) -> Campaign:
    """Sign off (admins; audited): every row decided, or `accept_undecided` with the undecided listed in the
    report. The campaign becomes read-only; the CSV's SHA-256 and the PDF summary are stored."""
    require_admin(actor, "sign off access reviews")
    campaign = get(store, actor, campaign_id)
    ensure_open(campaign)
    now = now or datetime.now(UTC)
    with store.write() as cur:
        undecided = cur.execute(
            "SELECT count(*) FROM review_items WHERE campaign_id = ? AND decision IS NULL", [campaign_id]
        ).fetchall()[0][0]
        if undecided and not accept_undecided:
            raise ReviewError(
                f"{undecided} guest users have no decision yet. Decide them, or sign off with the undecided "
                "listed explicitly in the report."
            )
        cur.execute(
            "UPDATE review_campaigns SET closed_by = ?, closed_at = ?, undecided = ? WHERE id = ?",
            [actor.email, now, undecided, campaign_id],
        ).fetchall()  # finished: the CSV below streams through this cursor
        signed = get(store, actor, campaign_id)
        digest, rows = report.csv_digest(store, campaign_id)
        pdf = report.build_pdf(store, signed, digest, rows)
        cur.execute(
            "UPDATE review_campaigns SET csv_sha256 = ?, csv_rows = ?, pdf = ? WHERE id = ?",
            [digest, rows, pdf, campaign_id],
        )
        audit.record(
            store,
            actor=actor.email,
            action="review.close",
            target=f"campaign #{campaign_id}",
            outcome="ok",
            detail=f"signed off with {undecided} undecided; CSV SHA-256 {digest}",
        )
    return get(store, actor, campaign_id)
