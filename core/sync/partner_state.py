"""A partner's connection state after a failed or halted sync, with its alert in the same transaction.

`Reconnect required` and `Sync failed` raise an alert when the partner *becomes* so (not at every later
sync that fails the same way); every safeguard halt raises one, since each means a sync was not applied.
"""

from __future__ import annotations

from core.accounts import partners
from core.alerts import outbox
from core.alerts import triggers as t
from core.store.database import Store

RECONNECT_REQUIRED, SYNC_FAILED, SAFEGUARD_HALTED = "reconnect_required", "sync_failed", "safeguard_halted"
_LABELS = {RECONNECT_REQUIRED: "Reconnect required", SYNC_FAILED: "Sync failed", SAFEGUARD_HALTED: "Halted: safeguard"}


def mark(store: Store, bc_id: str, connection: str, *, error: str, task_id: int | None) -> None:
    """Record the partner's new connection state and, when it calls for one, its alert, in one transaction."""
    with store.write() as cur:
        row = cur.execute("SELECT connection, name FROM partners WHERE bc_id = ?", [bc_id]).fetchall()
        partners.set_connection(store, bc_id, connection, error=error)
        before, name = (row[0][0], row[0][1]) if row else (None, None)
        if connection == SAFEGUARD_HALTED:
            trigger = t.SAFEGUARD_HALTED
        elif before != connection:
            trigger = t.PARTNER_UNHEALTHY
        else:
            return
        outbox.record(
            cur,
            trigger,
            task_id=task_id,
            partner_bc_id=bc_id,
            subject=name or bc_id,
            detail=f"{_LABELS[connection]}: {error}",
        )
