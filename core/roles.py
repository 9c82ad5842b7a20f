"""Workspace roles and the server-side checks behind every admin action."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
ANALYST = "analyst"
GUEST = "guest"
ROLES = (ADMIN, ANALYST, GUEST)


class NotAllowed(PermissionError):
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
