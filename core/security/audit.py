"""Audit log: who did what, to what, when, and how it ended.

`record()` appends one row; its target and detail pass through the log redaction first, so a token
or password that slips into a message is never stored. `query()` returns the newest rows first as a
DataFrame for the Settings page and its CSV download.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from core.logging_setup import redact
from core.store.database import Store

COLUMNS = ["id", "at", "actor", "action", "target", "outcome", "detail"]
MAX_LIMIT = 100_000


def record(
    store: Store, *, actor: str, action: str, target: str, outcome: str, detail: str = "", at: datetime | None = None
) -> None:
    """Append one audit row (joins the caller's transaction when called inside `store.write()`)."""
    with store.write() as cur:
        cur.execute(
            'INSERT INTO audit_log ("at", actor, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)',
            [at or datetime.now(UTC), actor, action, redact(str(target)), outcome, redact(str(detail or ""))],
        )


def query(
    store: Store,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Audit rows, newest first, filtered by exact actor, action (or `prefix.*`), outcome and time range."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    where, params = _filters(actor, action, since, until, outcome)
    sql = f"""SELECT id, "at", actor, action, target, outcome, detail FROM audit_log
              {where} ORDER BY "at" DESC, id DESC LIMIT ?"""
    with store.read() as cur:
        frame = cur.execute(sql, [*params, limit]).df()
    return frame[COLUMNS]


def distinct(store: Store, column: str) -> list[str]:
    """The values seen in `actor`, `action` or `outcome`, for filter choices."""
    if column not in ("actor", "action", "outcome"):
        raise ValueError(f"cannot list the values of {column!r}")
    with store.read() as cur:
        rows = cur.execute(f"SELECT DISTINCT {column} FROM audit_log WHERE {column} IS NOT NULL ORDER BY 1").fetchall()
    return [str(r[0]) for r in rows]


def _filters(
    actor: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None = None,
    outcome: str | None = None,
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if actor is not None:
        clauses.append("actor = ?")
        params.append(actor)
    if action is not None and action.endswith(".*"):
        clauses.append("starts_with(action, ?)")
        params.append(action[:-1])
    elif action is not None:
        clauses.append("action = ?")
        params.append(action)
    if outcome is not None:
        clauses.append("outcome = ?")
        params.append(outcome)
    if since is not None:
        clauses.append('"at" >= ?')
        params.append(since)
    if until is not None:
        clauses.append('"at" < ?')
        params.append(until)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
