"""Plain data of the sandbox world: apps, business centers, members, assets, shares.

Members, assets and shares are immutable tuples (compact and cheap to create, which matters for worlds of
800,000 members); a change replaces the tuple. `BusinessCenter` is the mutable container, guarded by the
World's lock. `*_wire()` helpers give the exact v1.3 field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

ADMIN = "ADMIN"
STANDARD = "STANDARD"
USER_ROLES = (ADMIN, STANDARD)
FINANCE_ROLES = ("MANAGER", "ANALYST")
BOUND, PENDING, REJECTED, UNBOUND = "BOUND", "PENDING", "REJECTED", "UNBOUND"
RELATION_STATUSES = (BOUND, PENDING, REJECTED, UNBOUND)
ASSET_TYPES = ("ADVERTISER", "CATALOG", "DOMAIN", "LEAD", "PIXEL", "STOREFRONT", "TIKTOK_SHOP", "TT_ACCOUNT")
ADVERTISER_ROLES = ("ADMIN", "OPERATOR", "ANALYST")
CATALOG_ROLES = ("ADMIN", "AD_PROMOTE")
PASSWORD = "sandbox-pass"


@dataclass(frozen=True)
class App:
    """A developer app: id, secret, display name and its registered advertiser redirect URLs."""

    app_id: str
    app_secret: str
    app_name: str
    redirect_uris: tuple[str, ...]


class Member(NamedTuple):
    """One member of a BC. PENDING invitees have only an e-mail (no user_id, no user_name)."""

    user_id: str | None
    user_name: str | None
    user_email: str
    user_role: str
    relation_status: str
    finance_role: str | None

    @property
    def key(self) -> str:
        """Stable identity within a BC: the user_id, or the lower-cased e-mail of an invitee."""
        return self.user_id or self.user_email.lower()

    def wire(self) -> dict[str, Any]:
        """The `bc/member/get/` item (ext_user_role is {} without a finance role: INFERRED)."""
        item: dict[str, Any] = {}
        if self.user_id is not None:
            item["user_id"] = self.user_id
            item["user_name"] = self.user_name
        item["user_email"] = self.user_email
        item["user_role"] = self.user_role
        item["relation_status"] = self.relation_status
        item["ext_user_role"] = {"finance_role": self.finance_role} if self.finance_role else {}
        return item


class Asset(NamedTuple):
    """A BC asset. `advertiser_status`/`advertiser_account_type` only for ADVERTISER, `pixel_code` for PIXEL."""

    asset_id: str
    asset_name: str
    asset_type: str
    owner_bc_id: str
    advertiser_status: str | None = None
    advertiser_account_type: str | None = None
    pixel_code: str | None = None


class Share(NamedTuple):
    """An asset of `owner_bc_id` shared with the partner BC `partner_bc_id`, granting `role`."""

    asset_id: str
    owner_bc_id: str
    partner_bc_id: str
    role: str


class PartnerInfo(NamedTuple):
    """Sandbox facts about one partner (agency) BC, numbered from 1."""

    number: int
    bc_id: str
    slug: str
    monitor_email: str
    monitor_role: str
    eligible: bool


@dataclass
class BusinessCenter:
    """A Business Center: its `bc_info`, members (insertion ordered), partners, owned assets, assignments."""

    bc_id: str
    name: str
    company: str
    currency: str
    registered_area: str
    timezone: str
    type: str
    status: str = "ENABLE"
    verification_status: str = "VERIFIED"
    members: dict[str, Member] = field(default_factory=dict)
    partner_ids: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    assignments: dict[str, dict[str, str]] = field(default_factory=dict)

    def info_wire(self) -> dict[str, Any]:
        """The `bc_info` object of `bc/get/`."""
        return {
            "bc_id": self.bc_id, "name": self.name, "company": self.company, "currency": self.currency,
            "registered_area": self.registered_area, "status": self.status, "timezone": self.timezone,
            "type": self.type, "verification_status": self.verification_status,
        }

    def add_member(self, member: Member) -> None:
        """Adds or replaces the member with the same key."""
        self.members[member.key] = member
