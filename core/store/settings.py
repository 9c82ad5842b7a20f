"""Workspace settings as key/value text (`settings_kv`): the one place that reads and writes that table.

Each setting's owner (the sync policy, the safeguard, the flags, the integration) names its keys and parses its
values; this module only stores text with who changed it and when.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from core.store.cursor import Cursor


def get(cur: Cursor, key: str) -> str | None:
    """The stored text of `key`, or None when it was never set."""
    row = cur.execute("SELECT value FROM settings_kv WHERE key = ?", [key]).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def get_many(cur: Cursor, keys: Iterable[str]) -> dict[str, str]:
    """The keys that are set, with their text."""
    rows = cur.execute(
        "SELECT key, value FROM settings_kv WHERE key = ANY(?) AND value IS NOT NULL", [list(keys)]
    ).fetchall()
    return {str(key): str(value) for key, value in rows}


def put(cur: Cursor, key: str, value: str, *, by: str) -> None:
    """Set `key` to `value` in the caller's transaction, recording who and when."""
    cur.execute(
        """INSERT INTO settings_kv (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
                                           updated_by = excluded.updated_by""",
        [key, value, datetime.now(UTC), by],
    )


def delete(cur: Cursor, key: str) -> None:
    cur.execute("DELETE FROM settings_kv WHERE key = ?", [key])
