"""Accounts, portal sessions, OAuth auth codes and access tokens of the sandbox world."""

from __future__ import annotations

import secrets

from sandbox.errors import AUTH_CODE_ERROR, ApiError
from sandbox.models import PASSWORD
from sandbox.world_state import AuthCode, PortalSession, TokenRecord, WorldState

AUTH_CODE_TTL_S = 3600.0


class WorldAuth(WorldState):
    """Sign-in to the portal, its sessions, and the OAuth codes and tokens the emulated API accepts."""

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
