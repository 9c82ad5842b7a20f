"""What the member syncs changed: the change log (`changes`), changes per sync (`timeline`), the syncs
(`syncs`, `last_sync`), the Partners page's summary line (`summary_line`), and the data version (`data_version`)
that says whether any of it can have changed. Baseline syncs (a partner's first) add every member and are left
out unless asked for.

The change log and the timeline read a window: the `days` days up to the latest member sync (`window_start`;
`WINDOW_DAYS` unless the caller picks another of `WINDOWS`, None for all history), not the whole of
`member_changes`, which after a year of daily syncs holds millions of rows. Changes are written in time order,
so DuckDB skips the row groups before the window without reading them. The chart sums `member_change_counts`
(a row per sync, partner and kind) rather than counting the changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from core.store.cursor import Cursor
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


def data_version(store: Store) -> tuple[object, ...]:
    """What changes whenever the members' rows, their flags or the partner list can have changed, from any
    process: the member syncs (count, newest task, newest time), the partners (count, newest sighting, newest
    sync, and a digest of each one's id, name, removal and connection) and the settings (count, newest change).

    Snapshots read from `member_changes`, `member_syncs`, `members` and `partners` (the change log, the
    partner list, the syncs, a page of members) can be kept until it changes: a sync writes its changes,
    members and `member_syncs` row in one transaction; every Check for updates stamps the partners it lists
    (a rename or removal is in the digest too); a disconnect marks its partner's members removed in the
    transaction that changes the partner's connection; and the personal e-mail domains behind a flag are a
    setting. Small tables (a row per partner, per partner and sync, per setting), not the members or their
    changes.
    """
    with store.read() as cur:
        row = cur.execute(
            """SELECT s.*, p.*, k.*
               FROM (SELECT count(*), max(task_id), max(synced_at) FROM member_syncs) AS s,
                    (SELECT count(*), max(last_seen), max(last_sync_at),
                            md5(string_agg(concat_ws('|', bc_id, name, removed_at, connection), ',' ORDER BY bc_id))
                     FROM partners) AS p,
                    (SELECT count(*), max(updated_at) FROM settings_kv) AS k"""
        ).fetchone()
    assert row is not None  # one aggregate row
    return tuple(row)


WINDOW_DAYS = 90
WINDOWS = (7, 30, 90, 365, None)  # the windows a person can pick; None: all history


def window_start(cur: Cursor, days: int | None) -> datetime | None:
    """The start of the `days` days up to the latest member sync; None for all history or before any sync."""
    if days is None:
        return None
    if days < 1:
        raise ValueError("a window is at least one day")
    row = cur.execute("SELECT max(synced_at) FROM member_sync_latest").fetchone()
    latest = row[0] if row else None
    return None if latest is None else latest - timedelta(days=days)


def window(store: Store, days: int | None) -> datetime | None:
    """`window_start` in a snapshot of its own (what a page shows as the window's first day)."""
    with store.read() as cur:
        return window_start(cur, days)


def _since(start: datetime | None) -> tuple[str, list[object]]:
    """The condition on `c.changed_at` for a window start (a constant, so the scan skips older row groups)."""
    return ("true", []) if start is None else ("c.changed_at >= ?", [start])


def _not_baseline(include_baseline: bool) -> str:
    """The condition on the changes `c` that leaves out baseline syncs' changes ("true" when they are included):
    an anti join with the baseline syncs, a few rows (one per partner), rather than every change joined to its
    sync."""
    if include_baseline:
        return "true"
    return """NOT EXISTS (SELECT 1 FROM member_syncs b
                              WHERE b.baseline AND b.task_id = c.task_id AND b.partner_bc_id = c.partner_bc_id)"""


def changes(
    store: Store,
    *,
    partner_bc_id: str | None = None,
    include_baseline: bool = False,
    limit: int = 500,
    days: int | None = WINDOW_DAYS,
) -> pd.DataFrame:
    """The change log of the window (`days`, see `window_start`), newest first: when, which sync, partner,
    member, what changed (from → to).

    The newest changes first, then their members (by primary key, so no row is added or lost), rather than
    the members joined to every change before the LIMIT (~1M changes on the benchmark database); the members
    are first narrowed to the changes' keys (a semi join reads only `member_key` of every member), then joined.
    """
    with store.read() as cur:
        since, since_params = _since(window_start(cur, days))
        frame = cur.execute(
            f"""WITH recent AS (
                   SELECT c.* FROM member_changes c
                   WHERE {since} AND {_not_baseline(include_baseline)}
                     AND (CAST(? AS VARCHAR) IS NULL OR c.partner_bc_id = ?)
                   ORDER BY c.changed_at DESC, c.id DESC LIMIT ?),
               named AS (
                   SELECT partner_bc_id, member_key, user_name, user_email FROM members
                   WHERE member_key IN (SELECT member_key FROM recent))
               SELECT c.changed_at, c.task_id, p.name AS partner, coalesce(m.user_name, m.user_email) AS member,
                      m.user_email, c.change, c.old_value, c.new_value, coalesce(s.baseline, false) AS baseline
               FROM recent c
               JOIN partners p ON p.bc_id = c.partner_bc_id
               LEFT JOIN member_syncs s ON s.task_id = c.task_id AND s.partner_bc_id = c.partner_bc_id
               LEFT JOIN named m ON m.partner_bc_id = c.partner_bc_id AND m.member_key = c.member_key
               ORDER BY c.changed_at DESC, c.id DESC""",
            [*since_params, partner_bc_id, partner_bc_id, limit],
        ).df()
    kinds = frame["change"].map(lambda c: _CHANGE_VALUE_KIND.get(c, "role"))
    for column in ("old_value", "new_value"):
        frame[column] = [label(kind, code) for kind, code in zip(kinds, frame[column], strict=True)]
    return frame.assign(change=frame["change"].map(lambda c: CHANGE_LABELS.get(c, c)))


def timeline(store: Store, *, include_baseline: bool = False, days: int | None = WINDOW_DAYS) -> pd.DataFrame:
    """Changes per sync (task) and kind in the window (`days`, see `window_start`), oldest first: the Changes
    chart's data, summed from `member_change_counts` (what each sync wrote per partner and kind)."""
    with store.read() as cur:
        since, since_params = _since(window_start(cur, days))
        frame = cur.execute(
            f"""SELECT min(c.changed_at) AS synced_at, c.task_id, c.change, sum(c.members)::BIGINT AS members
               FROM member_change_counts c
               WHERE {since} AND {_not_baseline(include_baseline)}
               GROUP BY c.task_id, c.change ORDER BY synced_at, c.change""",
            since_params,
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


def last_sync(store: Store) -> datetime | None:
    """When the latest member sync of any partner ran (None before the first)."""
    with store.read() as cur:
        row = cur.execute("SELECT max(synced_at) FROM member_sync_latest").fetchone()
    return row[0] if row else None


def summary_line(store: Store, *, now: datetime | None = None, days: int = 7) -> str:
    """E.g. "Since last week: 3 new admins, 5 guest users added, 2 removed." (baseline syncs excluded)."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    with store.read() as cur:
        row = cur.execute(
            f"""SELECT count(*) FILTER (WHERE (c.change = 'added' AND c.new_value = 'ADMIN')
                                          OR (c.change = 'role_changed' AND c.new_value = 'ADMIN')),
                      count(*) FILTER (WHERE c.change = 'added'),
                      count(*) FILTER (WHERE c.change = 'removed'),
                      count(*) FILTER (WHERE c.change = 'role_changed')
               FROM member_changes c
               WHERE c.changed_at >= ? AND {_not_baseline(False)}""",
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
