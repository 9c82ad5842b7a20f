"""TikTok's codes for members (roles, finance roles, membership statuses) and the words users read for them.

The one mapping every table, chart, export and report shows: `label` in Python, `label_sql` in SQL.
"""

from __future__ import annotations

ROLES = {"ADMIN": "Admin", "STANDARD": "Standard"}
STATUSES = {"BOUND": "Joined", "PENDING": "Invitation pending", "REJECTED": "Rejected", "UNBOUND": "Unbound"}
FINANCE_ROLES = {"MANAGER": "Manager", "ANALYST": "Analyst"}
LABELS = {"role": ROLES, "finance_role": FINANCE_ROLES, "status": STATUSES}


def label(kind: str, code: str | None) -> str | None:
    """A TikTok code (`ADMIN`, `BOUND`, ...) as users read it; unknown codes pass through."""
    return None if code is None else LABELS[kind].get(code, code)


def label_sql(kind: str, column: str) -> str:
    """`label` in SQL (the codes and words are this module's constants, never user text)."""
    whens = " ".join(f"WHEN '{code}' THEN '{word}'" for code, word in LABELS[kind].items())
    return f"CASE {column} {whens} ELSE {column} END"
