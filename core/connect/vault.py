"""Credential vault: monitor-account credentials for partners, encrypted, shared per workspace user.

A partner's admin (a guest workspace user) or an admin adds the monitor account's email, phone and
password; all three are encrypted with the process's SecretBox, and only a masked email is kept in
clear for lists. An item is readable by the users it is shared with (its creator included) and by
admins; every reveal, allowed or refused, is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.connect import workspace
from core.errors import UserError
from core.logging_setup import register_secret
from core.security import audit
from core.security.crypto import SecretBox
from core.security.roles import GUEST, Actor, NotAllowed
from core.store.cursor import Cursor
from core.store.database import Store


class VaultError(UserError, ValueError):
    """A vault request that cannot be done as asked (unknown item, bad input)."""


_GONE = "This monitor account is no longer in the vault."


@dataclass(frozen=True)
class VaultItem:
    id: int
    partner_bc_id: str | None
    label: str
    email_hint: str
    created_by: str
    created_at: datetime
    shared_with: tuple[str, ...]


@dataclass(frozen=True)
class Credentials:
    email: str
    phone: str
    password: str


def mask_email(email: str) -> str:
    """`mo…@agency.example`: enough to recognise an account, not to use it."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}…@{domain}" if domain else f"{email[:2]}…"


def add(
    store: Store,
    box: SecretBox,
    actor: Actor,
    *,
    partner_bc_id: str | None,
    email: str,
    phone: str,
    password: str,
    label: str | None = None,
) -> VaultItem:
    """Store a monitor account (admins, or the partner's own guest user); it is shared with its creator."""
    _require_may_add(store, actor, partner_bc_id)
    email = email.strip()
    if "@" not in email or not password:
        raise VaultError("A monitor account needs an e-mail address and a password.")
    register_secret(password)
    now = datetime.now(UTC)
    with store.write() as cur:
        row = cur.execute(
            """INSERT INTO vault_items (partner_bc_id, label, email_hint, email_ct, phone_ct, password_ct,
                                        created_by, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            [
                partner_bc_id,
                (label or "").strip() or f"Monitor account {mask_email(email)}",
                mask_email(email),
                box.encrypt(email),
                box.encrypt(phone.strip()),
                box.encrypt(password),
                actor.email,
                now,
            ],
        ).fetchone()
        assert row is not None  # INSERT … RETURNING returns the inserted row
        item_id = int(row[0])
        _insert_share(cur, item_id, actor.email, actor.email, now)
    audit.record(
        store,
        actor=actor.email,
        action="vault.add",
        target=f"vault item {item_id}",
        outcome="ok",
        detail=f"partner {partner_bc_id or '-'}",
    )
    return _require_item(store, item_id)


def _require_may_add(store: Store, actor: Actor, partner_bc_id: str | None) -> None:
    if actor.is_admin:
        return
    if actor.role == GUEST and partner_bc_id is not None:
        me = workspace.user(store, actor.email)
        if me is not None and me.partner_bc_id == partner_bc_id:
            return
    raise NotAllowed("Only admins, or the partner's own guest user, can add a monitor account to the vault.")


def _insert_share(cur: Cursor, item_id: int, user_email: str, by: str, now: datetime) -> None:
    cur.execute(
        """INSERT INTO vault_shares (item_id, user_email, shared_by, shared_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (item_id, user_email) DO NOTHING""",
        [item_id, user_email.strip().lower(), by, now],
    )


def share(store: Store, actor: Actor, item_id: int, user_email: str) -> VaultItem:
    """Share an item with a workspace user (admins, or the item's creator)."""
    item = _require_item(store, item_id)
    if not (actor.is_admin or item.created_by == actor.email):
        raise NotAllowed("Only admins or the person who added this monitor account can share it.")
    email = user_email.strip().lower()
    if workspace.user(store, email) is None:
        raise VaultError(f"{email} is not a user of this workspace: invite them first.")
    with store.write() as cur:
        _insert_share(cur, item_id, email, actor.email, datetime.now(UTC))
    audit.record(
        store,
        actor=actor.email,
        action="vault.share",
        target=f"vault item {item_id}",
        outcome="ok",
        detail=f"shared with {email}",
    )
    return _require_item(store, item_id)


def reveal(store: Store, box: SecretBox, actor: Actor, item_id: int) -> Credentials:
    """Decrypt an item for someone it is shared with (or an admin). Every attempt is audited."""
    item = _require_item(store, item_id)
    if not (actor.is_admin or actor.email.lower() in item.shared_with):
        audit.record(
            store,
            actor=actor.email,
            action="vault.reveal",
            target=f"vault item {item_id}",
            outcome="refused",
            detail="not shared with this user",
        )
        raise NotAllowed("This monitor account is not shared with you.")
    with store.read() as cur:
        row = cur.execute("SELECT email_ct, phone_ct, password_ct FROM vault_items WHERE id = ?", [item_id]).fetchone()
    if row is None:  # deleted since _require_item read it
        raise VaultError(_GONE)
    creds = Credentials(*(box.decrypt(bytes(value)) for value in row))
    register_secret(creds.password)
    audit.record(
        store,
        actor=actor.email,
        action="vault.reveal",
        target=f"vault item {item_id}",
        outcome="ok",
        detail=f"partner {item.partner_bc_id or '-'}",
    )
    return creds


def delete(store: Store, actor: Actor, item_id: int) -> None:
    """Delete an item and its shares (admins, or the item's creator)."""
    item = _require_item(store, item_id)
    if not (actor.is_admin or item.created_by == actor.email):
        raise NotAllowed("Only admins or the person who added this monitor account can delete it.")
    with store.write() as cur:
        cur.execute("DELETE FROM vault_shares WHERE item_id = ?", [item_id])
        cur.execute("DELETE FROM vault_items WHERE id = ?", [item_id])
    audit.record(
        store, actor=actor.email, action="vault.delete", target=f"vault item {item_id}", outcome="ok", detail=item.label
    )


_ITEM_SQL = """SELECT i.id, i.partner_bc_id, i.label, i.email_hint, i.created_by, i.created_at,
                      array_agg(s.user_email ORDER BY s.user_email) FILTER (WHERE s.user_email IS NOT NULL)
               FROM vault_items i LEFT JOIN vault_shares s ON s.item_id = i.id"""
_ITEM_GROUP = "GROUP BY i.id, i.partner_bc_id, i.label, i.email_hint, i.created_by, i.created_at"


def _item(row: tuple[Any, ...]) -> VaultItem:
    return VaultItem(int(row[0]), row[1], row[2], row[3] or "", row[4], row[5], tuple(row[6] or ()))


def get(store: Store, item_id: int) -> VaultItem | None:
    with store.read() as cur:
        row = cur.execute(f"{_ITEM_SQL} WHERE i.id = ? {_ITEM_GROUP}", [item_id]).fetchone()
    return _item(row) if row else None


def _require_item(store: Store, item_id: int) -> VaultItem:
    item = get(store, item_id)
    if item is None:
        raise VaultError(_GONE)
    return item


def list_items(store: Store, *, partner_bc_id: str | None = None) -> list[VaultItem]:
    """Every item (no secrets), optionally for one partner; newest first."""
    with store.read() as cur:
        rows = cur.execute(
            f"{_ITEM_SQL} WHERE (CAST(? AS VARCHAR) IS NULL OR i.partner_bc_id = ?) {_ITEM_GROUP} "
            "ORDER BY i.created_at DESC, i.id DESC",
            [partner_bc_id, partner_bc_id],
        ).fetchall()
    return [_item(r) for r in rows]


def shared_with(store: Store, user_email: str, partner_bc_id: str) -> list[VaultItem]:
    """The partner's monitor accounts shared with this user (the wizard's requirement check)."""
    email = user_email.strip().lower()
    return [i for i in list_items(store, partner_bc_id=partner_bc_id) if email in i.shared_with]
