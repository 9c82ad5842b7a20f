"""The audit log as CSV (Settings → Audit log → Download CSV), through the project's safe CSV writer.

Admins only; the download itself is audited. Every field is quoted and formula-like cells are defused by
`core.members.export.csv_chunks`, the same writer as the guest-user export.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict

import pandas as pd

from core.security import audit
from core.security.roles import Actor, require_admin
from core.security.safe_csv import csv_chunks
from core.store.database import Store

HEADER = ("id", "at (UTC)", "actor", "action", "target", "outcome", "detail")


class _QueryArgs(TypedDict):
    """The keyword arguments of `audit.query` a filter sets."""

    actor: str | None
    action: str | None
    outcome: str | None
    limit: int
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True)
class AuditFilter:
    """What the Settings page filters on; None means any. Dates are whole UTC days, `until` included."""

    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: date | None = None
    until: date | None = None
    limit: int = 10_000

    def query_args(self) -> _QueryArgs:
        return {
            "actor": self.actor,
            "action": self.action,
            "outcome": self.outcome,
            "limit": self.limit,
            "since": _start(self.since),
            "until": _start(self.until + timedelta(days=1)) if self.until else None,
        }


def _start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(0), tzinfo=UTC) if day else None


def rows(store: Store, actor: Actor, f: AuditFilter) -> pd.DataFrame:
    """The filtered audit rows, newest first (admins only)."""
    require_admin(actor, "read the audit log")
    return audit.query(store, **f.query_args())


def csv_bytes(store: Store, actor: Actor, f: AuditFilter) -> bytes:
    """The filtered audit rows as one safe CSV document; the download is written to the audit log."""
    frame = rows(store, actor, f)
    frame["at"] = [value.isoformat() for value in frame["at"]]
    body = b"".join(csv_chunks(HEADER, [frame.itertuples(index=False, name=None)]))
    audit.record(
        store,
        actor=actor.email,
        action="export.audit_log",
        target="audit log CSV",
        outcome="ok",
        detail=f"{len(frame)} rows",
    )
    return body
