"""World: the sandbox's state (BCs, members, assets, shares, accounts) and its runtime (portal sessions,
auth codes, access tokens), pure Python and thread-safe behind one lock.

Partner members are generated per partner BC on first use (see `generate.py`); lookups by e-mail or
user_id load just the partner they belong to, `to_json()` and `load_all()` load everything.

The HTTP layers (`api.py`, `portal.py`, `control.py`) only call these methods; readers get snapshots
(lists of immutable tuples), so a control call changing a member never tears a page being served.

What changes at runtime (auth codes, tokens, portal sessions, and the member changes of the control API,
kept as a journal replayed over the seeded world) is `runtime_state()`; `restore()` puts it back, and
`on_change` (set by `sandbox/persist.py`) is called, under the lock, after every change of it.
"""

from __future__ import annotations

import gc
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sandbox.errors import AUTH_CODE_ERROR, ApiError
from sandbox.generate import CUSTOMER_ADMIN_EMAIL, build_world, home_partner_number
from sandbox.models import (
    ADMIN,
    BOUND,
    PASSWORD,
    PENDING,
    App,
    Asset,
    BusinessCenter,
    Member,
    PartnerInfo,
)
from sandbox.names import PERSONAL_DOMAINS

AUTH_CODE_TTL_S = 3600.0
_JOURNALED = {"add": "add_member", "remove": "remove_member", "update": "update_member"}
DEFAULT_APP = App("7100000000000000000", "sandbox-secret", "PartnerWatch", ())


class AuthCode(NamedTuple):
    user_id: str
    app_id: str
    redirect_uri: str
    expires_at: float


class TokenRecord(NamedTuple):
    user_id: str
    app_id: str


class PortalSession(NamedTuple):
    user_id: str
    csrf: str


class World:
    """The emulated TikTok side: generated from `seed`, changed by the control API, reset on demand."""

    def __init__(
        self,
        seed: int = 7,
        partners: int = 6,
        members: int = 40,
        app: App = DEFAULT_APP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seed, self.partner_count, self.member_count = seed, partners, members
        self.app = app
        self.clock = clock
        self._lock = threading.RLock()
        self._codes: dict[str, AuthCode] = {}
        self._used_codes: dict[str, float] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._sessions: dict[str, PortalSession] = {}
        self._next_user_id = 7_400_000_000_000_000_000
        self._journal: list[dict[str, Any]] = []  # member changes of the control API, in order
        self.on_change: Callable[[], None] | None = None
        self._load()

    def _load(self) -> None:
        data = build_world(self.seed, self.partner_count, self.member_count)
        self.customer_bc_id = data.customer_bc_id
        self.bcs: dict[str, BusinessCenter] = data.bcs
        self.assets: dict[str, Asset] = data.assets
        self.shares = data.shares
        self.accounts: dict[str, str] = data.accounts
        self.partners: list[PartnerInfo] = data.partners
        self._domains = {p.monitor_email.split("@")[1]: p.bc_id for p in self.partners}

    def load_all(self) -> None:
        """Generates every partner's members now (they are otherwise made on first use)."""
        # The cyclic GC would rescan the growing heap many times while 800k tuples are created: pause it.
        paused = gc.isenabled()
        gc.disable()
        try:
            for bc in self.bcs.values():
                bc.load()
        finally:
            if paused:
                gc.enable()

    def user_id(self, email: str) -> str | None:
        """The user_id of the account with this e-mail (loading the partner it belongs to if needed)."""
        email = email.strip().lower()
        with self._lock:
            if email not in self.accounts:
                domain = email.rpartition("@")[2]
                if domain in self._domains:
                    self.bcs[self._domains[domain]].load()
                elif domain in PERSONAL_DOMAINS:
                    self.load_all()
            return self.accounts.get(email)

    def _bcs_of(self, user_id: str) -> list[BusinessCenter]:
        """The BCs that may list this user: those loaded already plus the partner its ID range belongs to."""
        number = home_partner_number(user_id)
        home = self.partners[number - 1].bc_id if number is not None and number <= len(self.partners) else None
        return [bc for bc in self.bcs.values() if bc.loaded or bc.bc_id == home]

    def reset(self) -> None:
        """Back to the seeded state; sessions, auth codes and tokens are dropped."""
        with self._lock:
            self._load()
            self._codes.clear()
            self._used_codes.clear()
            self._tokens.clear()
            self._sessions.clear()
            self._next_user_id = 7_400_000_000_000_000_000
            self._journal.clear()
            self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def runtime_state(self) -> dict[str, Any]:
        """What changed since the seed, as JSON-ready data: codes, tokens, sessions, the member journal."""
        with self._lock:
            return {
                "codes": {code: list(record) for code, record in self._codes.items()},
                "used_codes": dict(self._used_codes),
                "tokens": {token: list(record) for token, record in self._tokens.items()},
                "sessions": {sid: list(session) for sid, session in self._sessions.items()},
                "member_changes": [dict(change) for change in self._journal],
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Back to the seed, then `state` (from `runtime_state()`) applied: member changes replayed in order."""
        with self._lock:
            hook, self.on_change = self.on_change, None
            try:
                self.reset()
                for change in state.get("member_changes", []):
                    getattr(self, _JOURNALED[change["op"]])(**change["args"])
                self._codes.update({c: AuthCode(*r) for c, r in state.get("codes", {}).items()})
                self._used_codes.update(state.get("used_codes", {}))
                self._tokens.update({t: TokenRecord(*r) for t, r in state.get("tokens", {}).items()})
                self._sessions.update({s: PortalSession(*r) for s, r in state.get("sessions", {}).items()})
            finally:
                self.on_change = hook

    def _journaled(self, op: str, **args: Any) -> None:
        self._journal.append({"op": op, "args": args})
        self._changed()

    # --- accounts and portal sessions -------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> str | None:
        """The user_id for a correct e-mail/password pair (every sandbox account uses `sandbox-pass`)."""
        user_id = self.user_id(email)
        return user_id if user_id is not None and secrets.compare_digest(password.encode(), PASSWORD.encode()) else None

    def account(self, user_id: str) -> tuple[str, str] | None:
        """(user_name, e-mail) of an account, from any BC it belongs to."""
        with self._lock:
            for bc in self._bcs_of(user_id):
                member = bc.members.get(user_id)
                if member is not None:
                    return member.user_name or member.user_email, member.user_email
        return None

    def open_session(self, user_id: str) -> str:
        with self._lock:
            session_id = secrets.token_urlsafe(24)
            self._sessions[session_id] = PortalSession(user_id, secrets.token_urlsafe(16))
            self._changed()
        return session_id

    def session(self, session_id: str | None) -> PortalSession | None:
        with self._lock:
            return self._sessions.get(session_id or "")

    def close_session(self, session_id: str | None) -> None:
        with self._lock:
            if self._sessions.pop(session_id or "", None) is not None:
                self._changed()

    # --- OAuth ------------------------------------------------------------------------------------

    def issue_auth_code(self, user_id: str, app_id: str, redirect_uri: str) -> str:
        """A single-use auth code valid for one hour."""
        with self._lock:
            code = secrets.token_hex(20)
            self._codes[code] = AuthCode(user_id, app_id, redirect_uri, self.clock() + AUTH_CODE_TTL_S)
            self._changed()
        return code

    def redeem_auth_code(self, app_id: str, code: str) -> str:
        """The code's user_id; the code is spent. Raises 40110 for a used, expired, unknown or foreign code."""
        with self._lock:
            if code in self._used_codes:
                raise ApiError(
                    AUTH_CODE_ERROR,
                    "The auth_code has been used. Please re-authorize and try again with a new auth_code.",
                )
            record = self._codes.pop(code, None)
            if record is None or record.app_id != app_id:
                raise ApiError(
                    AUTH_CODE_ERROR, "The auth_code is invalid. Please re-authorize and try again with a new auth_code."
                )
            self._used_codes[code] = self.clock()
            self._changed()
            if record.expires_at <= self.clock():
                raise ApiError(
                    AUTH_CODE_ERROR,
                    "The auth_code has expired. Please re-authorize and try again with a new auth_code.",
                )
            return record.user_id

    def mint_token(self, user_id: str, app_id: str) -> str:
        with self._lock:
            token = secrets.token_hex(20)
            self._tokens[token] = TokenRecord(user_id, app_id)
            self._changed()
        return token

    def issue_token(self, user_email: str) -> str:
        """Tests only: an access token for the account `user_email`, without the portal."""
        user_id = self.user_id(user_email)
        if user_id is None:
            raise KeyError(f"no sandbox account {user_email!r}")
        return self.mint_token(user_id, self.app.app_id)

    def token(self, access_token: str) -> TokenRecord | None:
        with self._lock:
            return self._tokens.get(access_token)

    def revoke_token(self, access_token: str) -> TokenRecord | None:
        with self._lock:
            record = self._tokens.pop(access_token, None)
            if record is not None:
                self._changed()
            return record

    def revoke_user_tokens(self, user_email: str) -> int:
        """Revokes every token of the account; returns how many there were."""
        user_id = self.user_id(user_email)
        with self._lock:
            doomed = [t for t, record in self._tokens.items() if record.user_id == user_id]
            for token in doomed:
                del self._tokens[token]
            if doomed:
                self._changed()
            return len(doomed)

    # --- queries ----------------------------------------------------------------------------------

    def user_bcs(self, user_id: str) -> list[tuple[BusinessCenter, Member]]:
        """The BCs the user is a BOUND member of, with that membership."""
        with self._lock:
            found = []
            for bc in self._bcs_of(user_id):
                member = bc.members.get(user_id)
                if member is not None and member.relation_status == BOUND:
                    found.append((bc, member))
            return found

    def membership(self, bc_id: str, user_id: str) -> Member | None:
        """The user's BOUND membership of the BC, if any."""
        with self._lock:
            bc = self.bcs.get(bc_id)
            member = bc.members.get(user_id) if bc is not None else None
        return member if member is not None and member.relation_status == BOUND else None

    def members(self, bc_id: str) -> list[Member]:
        with self._lock:
            return list(self.bcs[bc_id].members.values())

    def bc_name(self, bc_id: str) -> str:
        with self._lock:
            return self.bcs[bc_id].name

    def partners_of(self, bc_id: str) -> list[tuple[str, str]]:
        """(bc_id, bc_name) of the BC's partners."""
        with self._lock:
            return [(pid, self.bcs[pid].name) for pid in self.bcs[bc_id].partner_ids if pid in self.bcs]

    def shared_assets(self, bc_id: str, partner_id: str, share_type: str) -> list[tuple[Asset, str]]:
        """SHARING: the BC's assets shared with the partner; SHARED: the partner's assets shared with the BC."""
        owner, receiver = (bc_id, partner_id) if share_type == "SHARING" else (partner_id, bc_id)
        with self._lock:
            return [
                (self.assets[s.asset_id], s.role)
                for s in self.shares
                if s.owner_bc_id == owner and s.partner_bc_id == receiver
            ]

    def bc_assets(self, bc_id: str) -> list[tuple[Asset, str, str]]:
        """(asset, relation_type, role) for the BC's own assets (OWNER_BC) then those shared with it."""
        with self._lock:
            owned = [(self.assets[a], "OWNER_BC", ADMIN) for a in self.bcs[bc_id].asset_ids]
            received = [
                (self.assets[s.asset_id], "OWNER_PARTNER", s.role) for s in self.shares if s.partner_bc_id == bc_id
            ]
        return owned + received

    def assigned_assets(self, bc_id: str, member_key: str) -> list[tuple[Asset, str, str]]:
        """(asset, relation_type, role) of the BC's assets the member has a role on."""
        with self._lock:
            assignments = self.bcs[bc_id].assignments
            return [
                (asset, relation, assignments[asset.asset_id][member_key])
                for asset, relation, _ in self.bc_assets(bc_id)
                if member_key in assignments.get(asset.asset_id, {})
            ]

    def asset_members(self, bc_id: str, asset_id: str) -> list[tuple[Member, str]] | None:
        """Members of the BC with a role on the asset; None if the BC has no such asset."""
        with self._lock:
            if all(asset.asset_id != asset_id for asset, _, _ in self.bc_assets(bc_id)):
                return None
            bc = self.bcs[bc_id]
            roles = bc.assignments.get(asset_id, {})
            return [(bc.members[key], role) for key, role in roles.items() if key in bc.members]

    def advertisers_of(self, user_id: str) -> list[Asset]:
        """Advertisers the user can reach: all of a BC it administers, the assigned ones elsewhere."""
        found: dict[str, Asset] = {}
        for bc, member in self.user_bcs(user_id):
            admin = member.user_role == ADMIN
            rows = self.bc_assets(bc.bc_id) if admin else self.assigned_assets(bc.bc_id, member.key)
            for asset, _, _ in rows:
                if asset.asset_type == "ADVERTISER":
                    found.setdefault(asset.asset_id, asset)
        return list(found.values())

    # --- control ----------------------------------------------------------------------------------

    def add_member(
        self,
        bc_id: str,
        user_email: str,
        user_name: str | None = None,
        user_role: str = "STANDARD",
        relation_status: str = BOUND,
        finance_role: str | None = None,
    ) -> Member:
        """Adds a member (an invitee if PENDING); an existing account keeps its user_id. ValueError if present."""
        with self._lock:
            bc = self._bc(bc_id)
            email = user_email.strip().lower()
            member = self._identity(Member(None, None, email, user_role, relation_status, finance_role), user_name)
            if member.key in bc.members or any(m.user_email == email for m in bc.members.values()):
                raise ValueError(f"{email} is already a member of {bc_id}")
            bc.add_member(member)
            self._journaled(
                "add",
                bc_id=bc_id,
                user_email=user_email,
                user_name=user_name,
                user_role=user_role,
                relation_status=relation_status,
                finance_role=finance_role,
            )
            return member

    def remove_member(self, bc_id: str, user_id: str | None = None, user_email: str | None = None) -> Member:
        """Removes the member and its asset roles. KeyError if absent."""
        with self._lock:
            bc = self._bc(bc_id)
            member = self._find(bc, user_id, user_email)
            del bc.members[member.key]
            for roles in bc.assignments.values():
                roles.pop(member.key, None)
            self._journaled("remove", bc_id=bc_id, user_id=user_id, user_email=user_email)
            return member

    def update_member(
        self, bc_id: str, changes: dict[str, Any], user_id: str | None = None, user_email: str | None = None
    ) -> Member:
        """Changes user_role, relation_status and/or finance_role (None clears it) of one member."""
        with self._lock:
            bc = self._bc(bc_id)
            old = self._find(bc, user_id, user_email)
            allowed = {"user_role", "relation_status", "finance_role"}
            new = old._replace(**{k: v for k, v in changes.items() if k in allowed})
            new = self._identity(new, changes.get("user_name"))
            if new.key == old.key:
                bc.members[old.key] = new
            else:
                bc.members = {
                    (new.key if k == old.key else k): (new if k == old.key else m) for k, m in bc.members.items()
                }
                for roles in bc.assignments.values():
                    if old.key in roles:
                        roles[new.key] = roles.pop(old.key)
            self._journaled("update", bc_id=bc_id, changes=dict(changes), user_id=user_id, user_email=user_email)
            return new

    def _identity(self, member: Member, user_name: str | None) -> Member:
        """An invitee has only its e-mail; anyone else gets the account's user_id (a new account if none)."""
        if member.relation_status == PENDING:
            return member._replace(user_id=None, user_name=None)
        user_id = member.user_id or self.user_id(member.user_email)
        if user_id is None:
            self._next_user_id += 1
            user_id = str(self._next_user_id)
            self.accounts[member.user_email] = user_id
        known = self.account(user_id)
        name = user_name or member.user_name or (known[0] if known else member.user_email.split("@")[0])
        return member._replace(user_id=user_id, user_name=name)

    def _bc(self, bc_id: str) -> BusinessCenter:
        bc = self.bcs.get(str(bc_id))
        if bc is None:
            raise KeyError(f"no BC {bc_id}")
        return bc

    @staticmethod
    def _find(bc: BusinessCenter, user_id: str | None, user_email: str | None) -> Member:
        for member in bc.members.values():
            if (user_id and member.user_id == str(user_id)) or (
                user_email and member.user_email == user_email.strip().lower()
            ):
                return member
        raise KeyError(f"no member {user_id or user_email} in BC {bc.bc_id}")

    # --- export -----------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The whole world (no tokens or sessions), for `GET /sandbox/world`."""
        with self._lock:
            self.load_all()
            return {
                "seed": self.seed,
                "password": PASSWORD,
                "app": {
                    "app_id": self.app.app_id,
                    "app_secret": self.app.app_secret,
                    "app_name": self.app.app_name,
                    "redirect_uris": list(self.app.redirect_uris),
                },
                "customer": {
                    "bc_id": self.customer_bc_id,
                    "name": self.bcs[self.customer_bc_id].name,
                    "admin_email": CUSTOMER_ADMIN_EMAIL,
                },
                "partners": [dict(p._asdict(), name=self.bcs[p.bc_id].name) for p in self.partners],
                "business_centers": [self._bc_json(bc) for bc in self.bcs.values()],
                "shares": [s._asdict() for s in self.shares],
            }

    def _bc_json(self, bc: BusinessCenter) -> dict[str, Any]:
        return {
            "bc_info": bc.info_wire(),
            "partner_ids": list(bc.partner_ids),
            "members": [m.wire() for m in bc.members.values()],
            "assets": [{k: v for k, v in self.assets[a]._asdict().items() if v is not None} for a in bc.asset_ids],
            "assignments": [
                {"asset_id": asset_id, "members": [{"key": k, "role": r} for k, r in roles.items()]}
                for asset_id, roles in bc.assignments.items()
            ],
        }
