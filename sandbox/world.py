"""World: the sandbox's state (BCs, members, assets, shares, accounts) and its runtime (portal sessions,
auth codes, access tokens), pure Python and thread-safe behind one lock.

Three layers, one object: `world_state.py` (the seeded world, its lock, reset, `runtime_state()` and
`restore()`), `world_auth.py` (accounts, portal sessions, auth codes, tokens), and here what the emulated API
reads, the control API's member changes, and `to_json()`.

The HTTP layers (`api.py`, `portal.py`, `control.py`) only call these methods; readers get snapshots
(lists of immutable tuples), so a control call changing a member never tears a page being served.
"""

from __future__ import annotations

from typing import Any

from sandbox.generate import CUSTOMER_ADMIN_EMAIL
from sandbox.models import ADMIN, BOUND, PASSWORD, PENDING, Asset, BusinessCenter, Member
from sandbox.world_auth import WorldAuth


class World(WorldAuth):
    """The emulated TikTok side: generated from `seed`, changed by the control API, reset on demand."""

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
