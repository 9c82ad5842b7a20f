"""A partner's connection state: what PartnerWatch holds for it and whether its last sync went through.

The only writer of `partners.connection`, `partners.token_id`, `partners.last_error` and
`partners.last_sync_at`: every change is one of the named transitions below, so a state cannot be reached
by a path nobody designed.

    none ──connected──▶ connected ◀──synced── sync_failed / safeguard_halted
      ▲                    │ token_rejected        ▲ sync_failed / halted
      │                    ▼                       │
      └── disconnected ◀ reconnect_required ───────┘ (reconnecting: connected)
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from core.store.cursor import Cursor


class Connection(StrEnum):
    NONE = "none"  # never connected: Not eligible or Pending onboarding, by shared assets
    CONNECTED = "connected"
    RECONNECT_REQUIRED = "reconnect_required"
    SYNC_FAILED = "sync_failed"
    SAFEGUARD_HALTED = "safeguard_halted"
    DISCONNECTED = "disconnected"


# States whose token Check for updates uses: onboarded, or onboarded and its last sync did not go through.
SYNCABLE = frozenset({Connection.CONNECTED, Connection.SYNC_FAILED, Connection.SAFEGUARD_HALTED})


def connected(cur: Cursor, bc_id: str, token_id: int) -> None:
    """The monitor account's token was stored (in the caller's transaction): the partner is onboarded."""
    _set(cur, bc_id, Connection.CONNECTED, token_id=token_id, error=None)


def disconnected(cur: Cursor, bc_id: str) -> None:
    """An admin disconnected the partner; its token is gone (in the caller's transaction)."""
    _set(cur, bc_id, Connection.DISCONNECTED, token_id=None, error=None)


def token_rejected(cur: Cursor, bc_id: str, reason: str) -> Connection | None:
    """TikTok refused the partner's token: the partner must be reconnected (the token is kept to show which).
    Returns the state before (None for an unknown partner), read in the same transaction."""
    return _failed(cur, bc_id, Connection.RECONNECT_REQUIRED, reason)


def sync_failed(cur: Cursor, bc_id: str, reason: str) -> Connection | None:
    """The partner's sync did not go through; nothing of it was applied. Returns the state before."""
    return _failed(cur, bc_id, Connection.SYNC_FAILED, reason)


def safeguard_halted(cur: Cursor, bc_id: str, reason: str) -> Connection | None:
    """The mass-removal safeguard held the partner's sync back; nothing of it was applied. Returns the state
    before."""
    return _failed(cur, bc_id, Connection.SAFEGUARD_HALTED, reason)


def synced(cur: Cursor, bc_ids: list[str], now: datetime) -> None:
    """The partners' syncs were written (in the same transaction): a failed or halted partner is connected again."""
    cur.execute(
        """UPDATE partners SET last_sync_at = $now, last_error = NULL,
               connection = CASE WHEN connection IN ($failed, $halted) THEN $connected ELSE connection END
           WHERE bc_id = ANY($bcs)""",
        {
            "now": now,
            "bcs": bc_ids,
            "failed": Connection.SYNC_FAILED.value,
            "halted": Connection.SAFEGUARD_HALTED.value,
            "connected": Connection.CONNECTED.value,
        },
    )


def _failed(cur: Cursor, bc_id: str, state: Connection, reason: str) -> Connection | None:
    before = cur.execute("SELECT connection FROM partners WHERE bc_id = ?", [bc_id]).fetchall()
    cur.execute("UPDATE partners SET connection = ?, last_error = ? WHERE bc_id = ?", [state.value, reason, bc_id])
    return Connection(before[0][0]) if before else None


def _set(cur: Cursor, bc_id: str, state: Connection, *, token_id: int | None, error: str | None) -> None:
    cur.execute(
        "UPDATE partners SET connection = ?, token_id = ?, last_error = ? WHERE bc_id = ?",
        [state.value, token_id, error, bc_id],
    )
