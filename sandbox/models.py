"""Plain data of the sandbox world: apps, business centers, members, assets, shares.

Members, assets and shares are immutable tuples (compact and cheap to create, which matters for worlds of
800,000 members); a change replaces the tuple. `BusinessCenter` is the mutable container, guarded by the
World's lock; its members can be generated lazily. `*_wire()` helpers give the exact v1.3 field names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
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

    def listed(self, empty_ext_user_role: str = "object") -> dict[str, Any]:
        """The item as the API lists it: every key the definition names, null where a PENDING invitee has no
        value (the definitions keep nulls: `pop_resp_nullvalue: false`). Without a finance role,
        `ext_user_role` is {} ("object"), {"finance_role": null} ("null") or left out ("absent"): INFERRED."""
        item: dict[str, Any] = {
            "user_id": self.user_id,
            "user_name": self.user_name,
            "user_email": self.user_email,
            "user_role": self.user_role,
            "relation_status": self.relation_status,
        }
        if self.finance_role:
            item["ext_user_role"] = {"finance_role": self.finance_role}
        elif empty_ext_user_role == "object":
            item["ext_user_role"] = {}
        elif empty_ext_user_role == "null":
            item["ext_user_role"] = {"finance_role": None}
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


class BusinessCenter:
    """A Business Center: its `bc_info`, members (insertion ordered), partners, owned assets, assignments.

    Members and asset assignments may be generated on first use: `loader(bc)` then fills `_members` and
    `_assignments` once, under the BC's lock, the first time either is read (so a world of 800,000 members
    starts without generating them all).
    """

    def __init__(
        self,
        bc_id: str,
        name: str,
        company: str,
        currency: str,
        registered_area: str,
        timezone: str,
        type: str,
        verification_status: str = "VERIFIED",
        loader: Callable[[BusinessCenter], None] | None = None,
    ) -> None:
        self.bc_id, self.name, self.company, self.currency = bc_id, name, company, currency
        self.registered_area, self.timezone, self.type = registered_area, timezone, type
        self.status = "ENABLE"
        self.verification_status = verification_status
        self.partner_ids: list[str] = []
        self.asset_ids: list[str] = []
        self._members: dict[str, Member] = {}
        self._assignments: dict[str, dict[str, str]] = {}
        self._loader = loader
        self._ready = loader is None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether members and assignments exist yet (reading either generates them)."""
        return self._ready

    def load(self) -> None:
        """Generates members and assignments if not done yet (thread-safe, once)."""
        if self._ready:
            return
        with self._lock:
            if not self._ready and self._loader is not None:
                self._loader(self)
            self._ready = True

    @property
    def members(self) -> dict[str, Member]:
        self.load()
        return self._members

    @members.setter
    def members(self, value: dict[str, Member]) -> None:
        self.load()
        self._members = value

    @property
    def assignments(self) -> dict[str, dict[str, str]]:
        """asset_id → {member key → advertiser_role or catalog_role}."""
        self.load()
        return self._assignments

    def info_wire(self) -> dict[str, Any]:
        """The `bc_info` object of `bc/get/`."""
        return {
            "bc_id": self.bc_id,
            "name": self.name,
            "company": self.company,
            "currency": self.currency,
            "registered_area": self.registered_area,
            "status": self.status,
            "timezone": self.timezone,
            "type": self.type,
            "verification_status": self.verification_status,
        }

    def add_member(self, member: Member) -> None:
        """Adds or replaces the member with the same key."""
        self.members[member.key] = member
