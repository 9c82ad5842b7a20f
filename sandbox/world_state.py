"""The sandbox world's state behind one lock: the seeded BCs, members, assets, shares and accounts, and what
changes at runtime (auth codes, tokens, portal sessions, and the member changes of the control API, kept as a
journal replayed over the seeded world).

Partner members are generated per partner BC on first use (see `generate.py`); lookups by e-mail or
user_id load just the partner they belong to, `load_all()` loads everything. `runtime_state()` is what changed
since the seed; `restore()` puts it back, and `on_change` (set by `sandbox/persist.py`) is called, under the
lock, after every change of it.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sandbox.generate import build_world, home_partner_number
from sandbox.models import App, Asset, BusinessCenter, PartnerInfo
from sandbox.names import PERSONAL_DOMAINS

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


class WorldState:
    """The seeded world and its runtime records; `World` (world.py) adds what the HTTP layers call."""

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
