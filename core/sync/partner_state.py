"""A partner's connection state after a failed or halted sync, with its alert in the same transaction.

`Reconnect required` and `Sync failed` raise an alert when the partner *becomes* so (not at every later
sync that fails the same way); every safeguard halt raises one, since each means a sync was not applied.
The state itself changes only through `core.accounts.connection`'s transitions.
"""

from __future__ import annotations

from collections.abc import Callable

from core.accounts import connection
from core.accounts.connection import Connection
from core.alerts import outbox
from core.alerts import triggers as t
from core.store.cursor import Cursor
from core.store.database import Store

RECONNECT_REQUIRED, SYNC_FAILED, SAFEGUARD_HALTED = (
    Connection.RECONNECT_REQUIRED,
    Connection.SYNC_FAILED,
    Connection.SAFEGUARD_HALTED,
)
_LABELS = {RECONNECT_REQUIRED: "Reconnect required", SYNC_FAILED: "Sync failed", SAFEGUARD_HALTED: "Halted: safeguard"}
_TRANSITIONS: dict[Connection, Callable[[Cursor, str, str], Connection | None]] = {
    RECONNECT_REQUIRED: connection.token_rejected,
    SYNC_FAILED: connection.sync_failed,
    SAFEGUARD_HALTED: connection.safeguard_halted,
}


def mark(store: Store, bc_id: str, state: Connection, *, error: str, task_id: int | None) -> None:
    """Record the partner's new connection state and, when it calls for one, its alert, in one transaction."""
    with store.write() as cur:
        before = _TRANSITIONS[state](cur, bc_id, error)
        if state == SAFEGUARD_HALTED:
            trigger = t.SAFEGUARD_HALTED
        elif before != state:
            trigger = t.PARTNER_UNHEALTHY
        else:
            return
        row = cur.execute("SELECT name FROM partners WHERE bc_id = ?", [bc_id]).fetchall()
        outbox.record(
            cur,
            trigger,
            task_id=task_id,
            partner_bc_id=bc_id,
            subject=(row[0][0] if row else None) or bc_id,
            detail=f"{_LABELS[state]}: {error}",
        )
