"""Workspace users: who may use PartnerWatch and with which role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.config.settings import Settings
from core.errors import InvalidInput
from core.security import audit
from core.security.roles import ADMIN, ANALYST, GUEST, ROLES, Actor, require_admin
from core.store.database import Store

SANDBOX_USERS = (("admin@partnerwatch.local", ADMIN), ("analyst@partnerwatch.local", ANALYST))


@dataclass(frozen=True)
class WorkspaceUser:
    email: str
    role: str
    partner_bc_id: str | None
    invited_by: str | None
    invited_at: datetime | None
    joined_at: datetime | None = None  # first sign-in; until then the user is only invited


_USER_COLUMNS = "email, role, partner_bc_id, invited_by, invited_at, joined_at"


def list_users(store: Store, *, role: str | None = None, partner_bc_id: str | None = None) -> list[WorkspaceUser]:
    """Workspace users (of one role, of one partner), admins first, then analysts, then guests, by e-mail."""
    with store.read() as cur:
        rows = cur.execute(
            f"""SELECT {_USER_COLUMNS} FROM workspace_users
                WHERE (CAST($role AS VARCHAR) IS NULL OR role = $role)
                  AND (CAST($partner AS VARCHAR) IS NULL OR partner_bc_id = $partner)
                ORDER BY CASE role WHEN 'admin' THEN 0 WHEN 'analyst' THEN 1 ELSE 2 END, email""",
            {"role": role, "partner": partner_bc_id},
        ).fetchall()
    return [WorkspaceUser(*r) for r in rows]


def user(store: Store, email: str) -> WorkspaceUser | None:
    """The workspace user with this e-mail (any case), or None."""
    with store.read() as cur:
        row = cur.execute(
            f"SELECT {_USER_COLUMNS} FROM workspace_users WHERE email = ?", [email.strip().lower()]
        ).fetchone()
    return None if row is None else WorkspaceUser(*row)


def mark_joined(store: Store, email: str) -> None:
    """Record a workspace user's first sign-in (the "has joined" of an invited guest user)."""
    email = email.strip().lower()
    known = user(store, email)
    if known is not None and known.joined_at is None:
        with store.write() as cur:
            cur.execute(
                "UPDATE workspace_users SET joined_at = ? WHERE email = ? AND joined_at IS NULL",
                [datetime.now(UTC), email],
            )


def upsert(
    store: Store, email: str, role: str, *, partner_bc_id: str | None = None, invited_by: str | None = None
) -> WorkspaceUser:
    email = email.strip().lower()
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}: use one of {', '.join(ROLES)}.")
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise InvalidInput(f"{email!r} is not an e-mail address.")
    with store.write() as cur:
        cur.execute(
            """INSERT INTO workspace_users (email, role, partner_bc_id, invited_by, invited_at)
               VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (email) DO UPDATE SET role = excluded.role, partner_bc_id = excluded.partner_bc_id""",
            [email, role, partner_bc_id, invited_by, datetime.now(UTC)],
        )
    stored = user(store, email)
    assert stored is not None
    return stored


def invite(store: Store, actor: Actor, email: str, role: str, *, partner_bc_id: str | None = None) -> WorkspaceUser:
    """Invite a workspace user or change a role (admins only); a guest user belongs to a partner."""
    require_admin(actor, "invite workspace users or change roles")
    if role == GUEST and not partner_bc_id:
        raise InvalidInput("A guest user is a partner's admin: choose the partner.")
    admins = [u.email for u in list_users(store, role=ADMIN)]
    if role != ADMIN and admins == [email.strip().lower()]:
        raise InvalidInput("This is the workspace's last admin: make someone else an admin first.")
    invited = upsert(store, email, role, partner_bc_id=partner_bc_id if role == GUEST else None, invited_by=actor.email)
    audit.record(
        store,
        actor=actor.email,
        action="workspace.invite",
        target=invited.email,
        outcome="ok",
        detail=f"role {role}" + (f", partner {partner_bc_id}" if role == GUEST else ""),
    )
    return invited


def sandbox_users(store: Store) -> list[WorkspaceUser]:
    """The sandbox's workspace: a seeded admin and analyst, plus anyone invited since."""
    known = {u.email for u in list_users(store)}
    for email, role in SANDBOX_USERS:
        if email not in known:
            upsert(store, email, role, invited_by="sandbox")
    return list_users(store)


def role_for(store: Store, settings: Settings, email: str) -> str | None:
    """A signed-in user's role, or None (no access).

    Live mode: the configured role rules decide (exact e-mail, then @domain); the workspace table adds
    guest users only, so an admin or analyst role always comes from configuration. Sandbox mode (the
    user switcher): the configured rules first, then the workspace table, then the built-in sandbox users.
    """
    configured = settings.roles.role_for(email)
    if configured is not None:
        return configured
    address = email.strip().lower()
    known = user(store, address)
    if known is None:
        return dict(SANDBOX_USERS).get(address) if settings.sandbox else None
    if settings.sandbox or known.role == GUEST:
        return known.role
    return None


def current_actor(store: Store, settings: Settings, email: str) -> Actor | None:
    """The Actor for `email` with the role it has right now, or None when it has no access."""
    role = role_for(store, settings, email)
    return Actor(email.strip().lower(), role) if role else None
