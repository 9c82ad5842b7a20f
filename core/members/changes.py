"""What the member syncs changed: the change log (`changes`), changes per sync (`timeline`), the syncs
(`syncs`) and the Partners page's summary line (`summary_line`). Baseline syncs (a partner's first) add every
member and are left out unless asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from core.store.database import Store
from core.tiktok.labels import label

CHANGE_LABELS = {
    "added": "Added",
    "removed": "Removed",
    "role_changed": "Role changed",
    "finance_role_changed": "Finance role changed",
    "status_changed": "Status changed",
}
# which label mapping a change's from/to values use (added, removed and role changes carry the TikTok role)
_CHANGE_VALUE_KIND = {"finance_role_changed": "finance_role", "status_changed": "status"}


def changes(
    store: Store, *, partner_bc_id: str | None = None, include_baseline: bool = False, limit: int = 500
) -> pd.DataFrame:
    """The change log, newest first: when, which sync, partner, member, what changed (from → to).

    The newest changes first, then their members (by primary key, so no row is added or lost), rather than
    the members joined to every change before the LIMIT (~1M changes on the benchmark database).
    """
    with store.read() as cur:
        frame = cur.execute(
            """WITH recent AS (
                   SELECT c.*, p.name AS partner, coalesce(s.baseline, false) AS baseline
                   FROM member_changes c
                   JOIN partners p ON p.bc_id = c.partner_bc_id
                   LEFT JOIN member_syncs s ON s.task_id = c.task_id AND s.partner_bc_id = c.partner_bc_id
                   WHERE (CAST(? AS VARCHAR) IS NULL OR c.partner_bc_id = ?) AND (? OR NOT coalesce(s.baseline, false))
                   ORDER BY c.changed_at DESC, c.id DESC LIMIT ?)
               SELECT c.changed_at, c.task_id, c.partner, coalesce(m.user_name, m.user_email) AS member,
                      m.user_email, c.change, c.old_value, c.new_value, c.baseline
               FROM recent c
               LEFT JOIN members m ON m.partner_bc_id = c.partner_bc_id AND m.member_key = c.member_key
               ORDER BY c.changed_at DESC, c.id DESC""",
            [partner_bc_id, partner_bc_id, include_baseline, limit],
        ).df()
    kinds = frame["change"].map(lambda c: _CHANGE_VALUE_KIND.get(c, "role"))
    for column in ("old_value", "new_value"):
        frame[column] = [label(kind, code) for kind, code in zip(kinds, frame[column], strict=True)]
    return frame.assign(change=frame["change"].map(lambda c: CHANGE_LABELS.get(c, c)))


def timeline(store: Store, *, include_baseline: bool = False) -> pd.DataFrame:
    """Changes per sync (task) and kind, oldest first: the Changes chart's data."""
    with store.read() as cur:
        frame = cur.execute(
            """SELECT min(c.changed_at) AS synced_at, c.task_id, c.change, count(*) AS members
               FROM member_changes c
               LEFT JOIN member_syncs s ON s.task_id = c.task_id AND s.partner_bc_id = c.partner_bc_id
               WHERE ? OR NOT coalesce(s.baseline, false)
               GROUP BY c.task_id, c.change ORDER BY synced_at, c.change""",
            [include_baseline],
        ).df()
    labels = [f"#{task} · {at:%Y-%m-%d %H:%M}" for task, at in zip(frame["task_id"], frame["synced_at"], strict=True)]
    return frame.assign(change=frame["change"].map(lambda c: CHANGE_LABELS.get(c, c)), sync=labels)


def syncs(store: Store, *, limit: int = 50) -> pd.DataFrame:
    """Member syncs, newest first, with their counts per partner."""
    with store.read() as cur:
        return cur.execute(
            """SELECT s.synced_at, s.task_id, p.name AS partner, s.baseline, s.members, s.added, s.changed,
                      s.removed
               FROM member_syncs s JOIN partners p ON p.bc_id = s.partner_bc_id
               ORDER BY s.synced_at DESC, p.name LIMIT ?""",
            [limit],
        ).df()


def summary_line(store: Store, *, now: datetime | None = None, days: int = 7) -> str:
    """E.g. "Since last week: 3 new admins, 5 guest users added, 2 removed." (baseline syncs excluded)."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    with store.read() as cur:
        row = cur.execute(
            """SELECT count(*) FILTER (WHERE (c.change = 'added' AND c.new_value = 'ADMIN')
                                          OR (c.change = 'role_changed' AND c.new_value = 'ADMIN')),
                      count(*) FILTER (WHERE c.change = 'added'),
                      count(*) FILTER (WHERE c.change = 'removed'),
                      count(*) FILTER (WHERE c.change = 'role_changed')
               FROM member_changes c
               LEFT JOIN member_syncs s ON s.task_id = c.task_id AND s.partner_bc_id = c.partner_bc_id
               WHERE c.changed_at >= ? AND NOT coalesce(s.baseline, false)""",
            [since],
        ).fetchone()
    assert row is not None  # aggregates without GROUP BY: one row
    new_admins, added, removed, role_changes = row
    period = "since last week" if days == 7 else f"in the last {days} days"
    if not (added or removed or role_changes):
        return f"No guest user changes {period}."
    details = [
        text
        for n, text in (
            (added, _plural(added, "guest user") + " added"),
            (removed, _plural(removed, "guest user") + " removed"),
            (role_changes, _plural(role_changes, "role change")),
        )
        if n
    ]
    return f"{_plural(new_admins, 'new admin')} {period} ({', '.join(details)})."


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
