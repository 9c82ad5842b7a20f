"""The outbox: alert events written inside the sync's own transactions, and the deliveries made from them.

`record_member_changes` and `record` take the caller's write cursor, so an event exists exactly when the
change that caused it was committed. Nothing is recorded while no enabled rule watches the trigger or no
channel is enabled. A partner's first member sync (its baseline) raises no member events. The dispatcher
(`dispatcher.py`) digests the events of finished tasks into deliveries (`digest.py`) and moves each delivery
through `pending` → `delivered`, or `dead` after the configured number of attempts; Alerts → Deliveries
retries or discards dead ones (audited). A pending delivery is `claim`ed (`claimed_by`, `claimed_until`) by the
one process that attempts it; settling the attempt clears the claim, and the claim of a process that died
lapses at `claimed_until`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.alerts import triggers as t
from core.alerts.rules import active_triggers
from core.errors import InvalidInput
from core.members import flags
from core.security import audit
from core.security.roles import Actor, require_admin, require_reader
from core.store.cursor import Cursor
from core.store.database import Store
from core.tasks.jobs import dialect, process_name

PENDING, DELIVERED, DEAD, DISCARDED = "pending", "delivered", "dead", "discarded"
SENDING = "sending"  # shown, not stored: a pending delivery whose claim is live
STATUS_LABELS = {
    PENDING: "Pending",
    SENDING: "Sending",
    DELIVERED: "Delivered",
    DEAD: "Dead letter",
    DISCARDED: "Discarded",
}

# Which member_changes rows raise which trigger (c: the change, m: the member after the write).
_MEMBER_CONDITIONS = {
    t.NEW_GUEST: "c.change = 'added'",
    t.PRIVILEGED_ROLE: """(c.change = 'added' AND (m.user_role = 'ADMIN' OR m.finance_role IS NOT NULL))
        OR (c.change = 'role_changed' AND c.new_value = 'ADMIN')
        OR (c.change = 'finance_role_changed' AND c.new_value IS NOT NULL)""",
    t.PERSONAL_DOMAIN: "c.change = 'added' AND m.email_domain = ANY($domains)",
    t.GUEST_REMOVED: "c.change = 'removed'",
}

_DETAIL = """CASE c.change WHEN 'added' THEN 'added as ' || coalesce(m.user_role, 'member')
    WHEN 'removed' THEN 'removed'
    ELSE replace(c.change, '_', ' ') || ': ' || coalesce(c.old_value, 'none') || ' → ' || coalesce(c.new_value, 'none')
    END"""


def record_member_changes(cur: Cursor, *, task_id: int, partner_bc_ids: Sequence[str]) -> int:
    """Events for the task's member changes of these partners (call in the write, before `member_syncs` rows of
    this task exist: a partner without earlier syncs is a baseline and raises none). Returns how many."""
    active = active_triggers(cur) & set(_MEMBER_CONDITIONS)
    if not active or not partner_bc_ids:
        return 0
    domains = flags.personal_domains(None, cur) if t.PERSONAL_DOMAIN in active else []  # type: ignore[arg-type]
    selects = [
        f"""SELECT '{trigger}' AS trigger, c.id AS change_id, c.partner_bc_id, c.member_key,
                   coalesce(m.user_name, m.user_email, c.member_key)
                       || CASE WHEN m.user_name IS NOT NULL AND m.user_email IS NOT NULL
                               THEN ' <' || m.user_email || '>' ELSE '' END AS subject,
                   {_DETAIL} AS detail
            FROM member_changes c
            JOIN members m ON m.partner_bc_id = c.partner_bc_id AND m.member_key = c.member_key
            WHERE c.task_id = $task AND c.partner_bc_id = ANY($bcs)
              AND EXISTS (SELECT 1 FROM member_syncs s WHERE s.partner_bc_id = c.partner_bc_id AND s.task_id <> $task)
              AND ({_MEMBER_CONDITIONS[trigger]})"""
        for trigger in sorted(active)
    ]
    params: dict[str, object] = {"task": task_id, "bcs": list(partner_bc_ids), "now": datetime.now(UTC)}
    if t.PERSONAL_DOMAIN in active:
        params["domains"] = domains
    row = cur.execute(
        f"""INSERT INTO alert_events (task_id, trigger, partner_bc_id, member_key, subject, detail, created_at)
            SELECT $task, e.trigger, e.partner_bc_id, e.member_key, e.subject, e.detail, $now
            FROM ({" UNION ALL ".join(selects)}) e ORDER BY e.change_id, e.trigger""",
        params,
    ).fetchall()
    return int(row[0][0]) if row else 0


def record(
    cur: Cursor,
    trigger: str,
    *,
    task_id: int | None,
    partner_bc_id: str | None,
    subject: str,
    detail: str = "",
) -> bool:
    """One partner- or task-level event in the caller's transaction (when some enabled rule watches it)."""
    if trigger not in active_triggers(cur):
        return False
    cur.execute(
        """INSERT INTO alert_events (task_id, trigger, partner_bc_id, subject, detail, created_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [task_id, trigger, partner_bc_id, subject, detail, datetime.now(UTC)],
    )
    return True


@dataclass(frozen=True)
class Delivery:
    id: int
    channel_id: int
    task_id: int | None
    idempotency_key: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime


_DELIVERY_COLUMNS = "id, channel_id, task_id, idempotency_key, payload, status, attempts, next_attempt_at"

_claimer: tuple[int, str] | None = None


def claimer() -> str:
    """This process as the claimer of deliveries: host/pid and a token of this start (a restarted process, even
    with the same pid, e.g. pid 1 in a container, is another claimer; so is a forked child)."""
    global _claimer
    if _claimer is None or _claimer[0] != os.getpid():
        _claimer = (os.getpid(), f"{process_name()}/{uuid.uuid4().hex[:8]}")
    return _claimer[1]


def claim(
    store: Store, now: datetime, *, lease_s: float, skip_channels: Sequence[int] = (), by: str | None = None
) -> Delivery | None:
    """Take the next delivery to send, or None: the oldest pending delivery of a channel (deliveries go out in
    the order they were created, per channel), when it is due and nobody else holds it, the oldest first,
    outside `skip_channels`. The claim (`claimed_by`, `claimed_until` = now + `lease_s`) is one UPDATE in one
    transaction; on PostgreSQL the row is taken `FOR UPDATE SKIP LOCKED`, so processes claiming at once never
    take the same delivery nor wait for one another. A claim lapses at `claimed_until`: the process that held it
    died (or the send outlived the lease) and the delivery is sent again, with the same idempotency key.
    On the DuckDB file, which one process opens, a claim of another claimer was left by a dead process and
    lapses at once. `by`: the claimer (this process, `claimer()`, by default)."""
    postgresql = dialect(store) == "postgresql"

    def free(t: str) -> str:  # nobody holds the delivery
        stale = "" if postgresql else f" OR {t}claimed_by <> $me"
        return f"({t}claimed_until IS NULL OR {t}claimed_until <= $now{stale})"

    skip = "AND NOT (d.channel_id = ANY($skip))" if skip_channels else ""
    params: dict[str, object] = {"now": now, "me": by or claimer(), "until": now + timedelta(seconds=lease_s)}
    if skip_channels:
        params["skip"] = [int(c) for c in skip_channels]
    with store.write() as cur:
        row = cur.execute(
            f"""UPDATE alert_deliveries SET claimed_by = $me, claimed_until = $until
                WHERE id = (
                    SELECT d.id FROM alert_deliveries d
                    WHERE d.status = 'pending' AND d.next_attempt_at <= $now AND {free("d.")}
                      AND NOT EXISTS (SELECT 1 FROM alert_deliveries o
                                      WHERE o.channel_id = d.channel_id AND o.status = 'pending' AND o.id < d.id)
                      {skip}
                    ORDER BY d.id LIMIT 1{" FOR UPDATE SKIP LOCKED" if postgresql else ""})
                  AND status = 'pending' AND {free("")}
                RETURNING {_DELIVERY_COLUMNS}""",
            params,
        ).fetchone()
    return Delivery(*row) if row else None


def mark_delivered(store: Store, delivery_id: int, status: int | None, now: datetime) -> None:
    """The receiver accepted the delivery (whoever holds its claim now: it was sent)."""
    with store.write() as cur:
        cur.execute(
            """UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = ?,
                      last_error = NULL, delivered_at = ?, updated_at = ?, claimed_by = NULL, claimed_until = NULL
               WHERE id = ? AND status = 'pending'""",
            [status, now, now, delivery_id],
        )


def mark_failed(
    store: Store,
    delivery_id: int,
    *,
    error: str,
    status: int | None,
    retry_at: datetime,
    dead: bool,
    now: datetime,
    by: str | None = None,
) -> None:
    """The attempt failed: retry at `retry_at`, or a dead letter. Only while `by` (this process by default) still
    holds the delivery: a claim that lapsed and was taken by another process is that process's to settle."""
    with store.write() as cur:
        cur.execute(
            """UPDATE alert_deliveries SET status = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
                      next_attempt_at = ?, updated_at = ?, claimed_by = NULL, claimed_until = NULL
               WHERE id = ? AND status = 'pending' AND claimed_by = ?""",
            [DEAD if dead else PENDING, status, error[:500], retry_at, now, delivery_id, by or claimer()],
        )


def listing(store: Store, actor: Actor, *, status: str | None = None, limit: int = 200) -> pd.DataFrame:
    """Deliveries, newest first, with the channel name (Alerts → Deliveries). A pending delivery that a process
    holds a live claim on is listed as `SENDING`."""
    require_reader(actor, "see alert deliveries")
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    with store.read() as cur:
        return cur.execute(
            f"""SELECT * FROM (
                    SELECT d.id, coalesce(c.name, '(removed channel)') AS channel, d.task_id,
                           CASE WHEN d.status = '{PENDING}' AND d.claimed_until > ? THEN '{SENDING}'
                                ELSE d.status END AS status,
                           d.attempts, d.created_at, d.delivered_at, d.next_attempt_at, d.last_status, d.last_error,
                           CAST(d.payload AS JSON) ->> 'summary' AS summary
                    FROM alert_deliveries d LEFT JOIN alert_channels c ON c.id = d.channel_id
                ) listed {where} ORDER BY id DESC LIMIT ?""",
            [datetime.now(UTC), *params, limit],
        ).df()


def retry(store: Store, actor: Actor, delivery_ids: Sequence[int] | None = None) -> int:
    """Put dead deliveries (all of them when no ids are given) back in the queue with a fresh attempt count
    (admins; audited). Returns how many."""
    return _change_dead(store, actor, delivery_ids, PENDING, "alerts.delivery_retry", "retry alert deliveries")


def discard(store: Store, actor: Actor, delivery_ids: Sequence[int]) -> int:
    """Discard dead deliveries (admins; audited); returns how many."""
    return _change_dead(store, actor, delivery_ids, DISCARDED, "alerts.delivery_discard", "discard alert deliveries")


def _change_dead(store: Store, actor: Actor, ids: Sequence[int] | None, to: str, action: str, what: str) -> int:
    require_admin(actor, what)
    if ids is not None and not ids:
        raise InvalidInput("Choose at least one delivery.")
    now = datetime.now(UTC)
    with store.write() as cur:
        rows = cur.execute(
            f"""UPDATE alert_deliveries SET status = ?, attempts = CASE WHEN ? = 'pending' THEN 0 ELSE attempts END,
                       next_attempt_at = ?, updated_at = ?
                WHERE status = 'dead' {"AND id = ANY(?)" if ids is not None else ""} RETURNING id""",
            [to, to, now, now, *([[int(i) for i in ids]] if ids is not None else [])],
        ).fetchall()
        done = sorted(int(r[0]) for r in rows)
        audit.record(
            store,
            actor=actor.email,
            action=action,
            target=f"{len(done)} deliveries",
            outcome="ok",
            detail=", ".join(f"#{i}" for i in done[:50]),
        )
    return len(done)


def counts(store: Store) -> dict[str, int]:
    with store.read() as cur:
        rows = cur.execute("SELECT status, count(*) FROM alert_deliveries GROUP BY status").fetchall()
    return {status: int(n) for status, n in rows}
