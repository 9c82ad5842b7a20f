"""One digest per finished sync per channel: counts per trigger, the first items, a link to the changes.

`make_deliveries` runs in one write transaction: it takes the undigested events of tasks that are no longer
running (a task killed with its process is `Not completed` after the restart, so its events are digested
then), matches each event against the rules, stores one `pending` delivery per (task, channel) with its own
idempotency key, and marks the events digested. Events no rule sends anywhere are marked digested too.
Processes digesting at once never digest an event twice: on PostgreSQL the events are taken `FOR UPDATE SKIP
LOCKED` (those another process is digesting are left to it, and once it committed they are digested); on the
DuckDB file the process's write lock serialises the passes.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.alerts import rules as rules_mod
from core.alerts.triggers import TRIGGERS, label
from core.store.database import Store
from core.tasks.jobs import ACTIVE, dialect

FIRST_ITEMS = 20
# The order items are listed in: what a security team acts on first.
_PRIORITY = [
    "privileged_role",
    "personal_domain",
    "safeguard_halted",
    "partner_unhealthy",
    "task_not_completed",
    "new_partner",
    "new_guest",
    "guest_removed",
]


@dataclass(frozen=True)
class _Event:
    id: int
    task_id: int | None
    trigger: str
    partner_bc_id: str | None
    partner: str | None
    subject: str | None
    detail: str | None


def make_deliveries(store: Store, *, public_url: str, now: datetime, first_items: int = FIRST_ITEMS) -> int:
    """Digest the ready events into deliveries; returns how many deliveries were created."""
    with store.write() as cur:
        rows = cur.execute(
            f"""SELECT e.id, e.task_id, e.trigger, e.partner_bc_id, p.name, e.subject, e.detail
                FROM alert_events e
                LEFT JOIN tasks t ON t.id = e.task_id
                LEFT JOIN partners p ON p.bc_id = e.partner_bc_id
                WHERE e.digested_at IS NULL
                  AND (e.task_id IS NULL OR t.id IS NULL OR t.status NOT IN ({", ".join("?" for _ in ACTIVE)}))
                ORDER BY e.id{" FOR UPDATE OF e SKIP LOCKED" if dialect(store) == "postgresql" else ""}""",
            list(ACTIVE),
        ).fetchall()
        if not rows:
            return 0
        events = [_Event(*r) for r in rows]
        rules = rules_mod.all_rules(store, cur)
        enabled = {int(r[0]) for r in cur.execute("SELECT id FROM alert_channels WHERE enabled").fetchall()}
        groups: dict[tuple[int | None, int], list[_Event]] = {}
        for event in events:
            for channel_id in sorted(rules_mod.channels_for(rules, event.trigger, event.partner_bc_id, enabled)):
                groups.setdefault((event.task_id, channel_id), []).append(event)
        for (task_id, channel_id), grouped in sorted(groups.items(), key=lambda kv: (kv[1][0].id, kv[0][1])):
            key = str(uuid.uuid4())
            payload = build(grouped, task_id=task_id, key=key, public_url=public_url, now=now, first=first_items)
            cur.execute(
                """INSERT INTO alert_deliveries (channel_id, task_id, idempotency_key, payload, status,
                       next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)""",
                [channel_id, task_id, key, json.dumps(payload, ensure_ascii=False), now, now, now],
            )
        cur.execute(
            "UPDATE alert_events SET digested_at = ? WHERE digested_at IS NULL AND id = ANY(?)",
            [now, [e.id for e in events]],
        )
    return len(groups)


def waiting(store: Store) -> bool:
    """Whether events wait for their task to end (the dispatcher then looks again soon)."""
    with store.read() as cur:
        row = cur.execute("SELECT count(*) FROM alert_events WHERE digested_at IS NULL").fetchone()
    return bool(row and row[0])


def build(
    events: list[_Event], *, task_id: int | None, key: str, public_url: str, now: datetime, first: int
) -> dict[str, Any]:
    """The digest as the generic webhook sends it; the other channels render it (`render.py`)."""
    tally = Counter(e.trigger for e in events)
    ordered = sorted(events, key=lambda e: (_rank(e.trigger), e.id))
    source = f"Check for updates #{task_id}" if task_id is not None else "PartnerWatch"
    parts = ", ".join(f"{n} × {label(k)}" for k, n in sorted(tally.items(), key=lambda kv: _rank(kv[0])))
    return {
        "type": "partnerwatch.alerts.digest",
        "version": 1,
        "delivery": key,
        "task_id": task_id,
        "created_at": now.isoformat(),
        "summary": f"{len(events)} alert{'s' if len(events) != 1 else ''} from {source}: {parts}",
        "counts": {k: tally[k] for k in sorted(tally, key=_rank)},
        "labels": {k: label(k) for k in tally},
        "items": [
            {
                "trigger": e.trigger,
                "trigger_label": label(e.trigger),
                "partner_bc_id": e.partner_bc_id,
                "partner": e.partner,
                "subject": e.subject,
                "detail": e.detail,
            }
            for e in ordered[:first]
        ],
        "omitted": max(0, len(events) - first),
        "link": f"{public_url.rstrip('/')}/members" + (f"?task={task_id}" if task_id is not None else ""),
    }


def _rank(trigger: str) -> int:
    return _PRIORITY.index(trigger) if trigger in _PRIORITY else len(TRIGGERS)
