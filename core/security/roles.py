"""Workspace roles, the configured role rules, and the server-side checks behind every admin action.

`RoleRules` maps signed-in e-mails to roles from configuration (`[partnerwatch.roles]` in secrets.toml or
PW_ROLE_ADMINS / PW_ROLE_ANALYSTS / PW_ROLE_GUESTS): each entry is an e-mail address or `@domain`. An exact
e-mail beats a domain; among equals the most privileged role wins. Nobody matched gets `None` (no access).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError

ADMIN = "admin"
ANALYST = "analyst"
GUEST = "guest"
ROLES = (ADMIN, ANALYST, GUEST)


class NotAllowed(UserError, PermissionError):
    """The signed-in user's role does not allow this action."""


@dataclass(frozen=True)
class Actor:
    """Who does something: a workspace user, the CLI, or the scheduler."""

    email: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    @property
    def can_read(self) -> bool:
        return self.role in (ADMIN, ANALYST)


SYSTEM_CLI = Actor("command line", ADMIN)
SYSTEM_SCHEDULER = Actor("Workspace policy", ADMIN)


def require_admin(actor: Actor, action: str) -> None:
    if not actor.is_admin:
        raise NotAllowed(f"Only admins can {action}; you are signed in as {actor.role}.")


def require_reader(actor: Actor, action: str) -> None:
    if not actor.can_read:
        raise NotAllowed(f"Your role ({actor.role}) cannot {action}.")


def normalize_entry(entry: str) -> str:
    """A role-rule entry, lower-cased: `person@company.example` or `@company.example`; ValueError otherwise."""
    value = entry.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not domain or "." not in domain or " " in value or "@" in local:
        raise ValueError(f"{entry!r} is neither an e-mail address nor an @domain")
    return value


@dataclass(frozen=True)
class RoleRules:
    """Who gets which role, from configuration: e-mail addresses and `@domain` entries per role."""

    admins: tuple[str, ...] = ()
    analysts: tuple[str, ...] = ()
    guests: tuple[str, ...] = ()

    def _by_role(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return (ADMIN, self.admins), (ANALYST, self.analysts), (GUEST, self.guests)

    def role_for(self, email: str) -> str | None:
        """The configured role of `email` (exact address first, then its domain), or None."""
        address = email.strip().lower()
        if "@" not in address:
            return None
        domain = "@" + address.rpartition("@")[2]
        for key in (address, domain):
            for role, entries in self._by_role():
                if key in entries:
                    return role
        return None
