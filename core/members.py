"""Guest users as the Members page, the CSV export and the CLI see them: server-side filtering, sorting
and paging in DuckDB, the change log per sync, and the Partners summary line.

Every query is parameterised; the only SQL text built from input is the ORDER BY, and it comes from the
`SORTS` allow-list. Flags are boolean columns computed in the query (see `core.flags`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from core import flags
from core.store import Store

ROLES = {"ADMIN": "Admin", "STANDARD": "Standard"}
STATUSES = {"BOUND": "Joined", "PENDING": "Invitation pending", "REJECTED": "Rejected", "UNBOUND": "Unbound"}
FINANCE_ROLES = {"MANAGER": "Manager", "ANALYST": "Analyst"}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

# sort key → SQL expression over the `filtered` relation (never user text)
SORTS = {
    "member": "lower(coalesce(user_name, user_email))",
    "email": "lower(user_email)",
    "partner": "lower(partner)",
    "role": "role",
    "finance_role": "finance_role",
    "status": "status",
    "assets": "asset_count",
    "flags": "flag_count",
    "first_seen": "first_seen",
    "last_seen": "last_seen",
    "removed_at": "removed_at",
}

PAGE_COLUMNS = ["member", "user_email", "partner", "role", "finance_role", "status", "assets", "flags",
                "first_seen", "last_seen", "removed_at"]

# The export's header → SQL over `filtered`, every value rendered as text.
EXPORT_COLUMNS = {
    "Member": "coalesce(user_name, '')",
    "Email": "coalesce(user_email, '')",
    "User ID": "coalesce(user_id, '')",
    "Partner": "coalesce(partner, '')",
    "Partner BC ID": "partner_bc_id",
    "TikTok role": "coalesce(role, '')",
    "Finance role": "coalesce(finance_role, '')",
    "Membership status": "coalesce(status, '')",
    "Your assets reached": "assets",
    "Risk flags": "array_to_string({flags}, '; ')",
    "First seen": "coalesce(strftime(first_seen, '%Y-%m-%d %H:%M:%S UTC'), '')",
    "Last seen": "coalesce(strftime(last_seen, '%Y-%m-%d %H:%M:%S UTC'), '')",
    "Removed at": "coalesce(strftime(removed_at, '%Y-%m-%d %H:%M:%S UTC'), '')",
}


@dataclass(frozen=True)
class MemberFilter:
    """What the Members page, the export and the CLI filter on; empty tuples mean "all"."""

    partners: tuple[str, ...] = ()  # partner BC ids
    roles: tuple[str, ...] = ()  # ADMIN | STANDARD
    statuses: tuple[str, ...] = ()  # BOUND | PENDING | REJECTED | UNBOUND
    flags: tuple[str, ...] = ()  # flag keys; a member matches when it has any of them
    search: str = ""
    include_removed: bool = False
    sort: str = "partner"
    descending: bool = False

    def __post_init__(self) -> None:
        for name, values, allowed in (("role", self.roles, ROLES), ("status", self.statuses, STATUSES),
                                      ("flag", self.flags, flags.BY_KEY)):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise ValueError(f"unknown {name} {unknown[0]!r}; choose from {', '.join(allowed)}")
        if self.sort not in SORTS:
            raise ValueError(f"cannot sort by {self.sort!r}; choose from {', '.join(SORTS)}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MemberFilter:
        return cls.from_mapping(json.loads(text))

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> MemberFilter:
        """From a JSON object or query parameters (lists, or comma-separated strings)."""
        def values(name: str) -> tuple[str, ...]:
            raw = data.get(name) or ()
            items = raw.split(",") if isinstance(raw, str) else raw
            return tuple(str(v).strip() for v in items if str(v).strip())  # type: ignore[union-attr]

        def flag(name: str) -> bool:
            return str(data.get(name, "")).lower() in ("1", "true", "yes", "on")

        return cls(partners=values("partners"), roles=tuple(v.upper() for v in values("roles")),
                   statuses=tuple(v.upper() for v in values("statuses")), flags=values("flags"),
                   search=str(data.get("search") or ""), include_removed=flag("include_removed"),
                   sort=str(data.get("sort") or "partner"), descending=flag("descending"))

    def to_query(self) -> dict[str, str]:
        """Query parameters that `from_mapping` reads back."""
        query = {"partners": ",".join(self.partners), "roles": ",".join(self.roles),
                 "statuses": ",".join(self.statuses), "flags": ",".join(self.flags), "search": self.search,
                 "include_removed": "1" if self.include_removed else "", "sort": self.sort,
                 "descending": "1" if self.descending else ""}
        return {k: v for k, v in query.items() if v}


def _base_sql() -> str:
    """All members with display values and flag columns; one bound parameter: the personal domains."""
    flag_columns = ",\n".join(f"coalesce(({f.condition}), false) AS {flags.column(f)}" for f in flags.FLAGS)
    flag_count = " + ".join(f"{flags.column(f)}::INTEGER" for f in flags.FLAGS)
    return f"""
WITH params AS (SELECT ?::VARCHAR[] AS domains),
latest AS (
    SELECT partner_bc_id, arg_max(task_id, synced_at) AS task_id, arg_max(baseline, synced_at) AS baseline
    FROM member_syncs GROUP BY partner_bc_id),
flagged AS (
    SELECT m.partner_bc_id, m.member_key, m.user_id, m.user_name, m.user_email, p.name AS partner,
           m.user_role, m.relation_status,
           CASE m.user_role WHEN 'ADMIN' THEN 'Admin' WHEN 'STANDARD' THEN 'Standard' ELSE m.user_role END AS role,
           CASE m.finance_role WHEN 'MANAGER' THEN 'Manager' WHEN 'ANALYST' THEN 'Analyst'
                ELSE m.finance_role END AS finance_role,
           CASE m.relation_status WHEN 'BOUND' THEN 'Joined' WHEN 'PENDING' THEN 'Invitation pending'
                WHEN 'REJECTED' THEN 'Rejected' WHEN 'UNBOUND' THEN 'Unbound' ELSE m.relation_status END AS status,
           coalesce(m.assets, '') AS assets, coalesce(m.asset_count, 0) AS asset_count,
           m.first_seen, m.last_seen, m.removed_at, (p.removed_at IS NOT NULL) AS partner_removed,
           {flag_columns}
    FROM members m
    JOIN partners p ON p.bc_id = m.partner_bc_id
    CROSS JOIN params
    LEFT JOIN latest l ON l.partner_bc_id = m.partner_bc_id
    WHERE {{scope}}
),
filtered AS (
    SELECT *, {flag_count} AS flag_count FROM flagged
    WHERE {{where}}
)"""


def _flags_list() -> str:
    """The labels of a row's flags, as a list (computed only for the rows selected: it is not cheap)."""
    labels = ", ".join(f"CASE WHEN {flags.column(f)} THEN '{f.label}' END" for f in flags.FLAGS)
    return f"list_filter([{labels}], lambda x: x IS NOT NULL)"


def _where(f: MemberFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if not f.include_removed:
        clauses.append("removed_at IS NULL AND NOT partner_removed")
    for column, values in (("partner_bc_id", f.partners), ("user_role", f.roles),
                           ("relation_status", f.statuses)):
        if values:
            clauses.append(f"list_contains(?::VARCHAR[], {column})")
            params.append(list(values))
    if f.flags:
        clauses.append("(" + " OR ".join(flags.column(flags.BY_KEY[k]) for k in f.flags) + ")")
    term = f.search.strip().lower()
    if term:
        clauses.append("(contains(lower(coalesce(user_name, '')), ?) OR contains(lower(coalesce(user_email, '')), ?)"
                       " OR user_id = ? OR contains(lower(partner), ?))")
        params.extend([term, term, f.search.strip(), term])
    return (" AND ".join(clauses) or "true"), params


def _order(f: MemberFilter) -> str:
    direction = "DESC" if f.descending else "ASC"
    return f"ORDER BY {SORTS[f.sort]} {direction} NULLS LAST, partner_bc_id, member_key"


def query(store: Store, f: MemberFilter, select: str, tail: str = "", extra: list[object] | None = None,
          source: str = "filtered", scope: tuple[str, list[object]] = ("true", [])) -> tuple[str, list[object]]:
    """SQL and parameters selecting `select` (`{flags}` stands for the flag list) from the filtered members.

    `scope` is a condition on `members m` (with its parameters) applied before any display column is built.
    """
    where, params = _where(f)
    select = select.replace("{flags}", _flags_list())
    sql = _base_sql().replace("{scope}", scope[0]).replace("{where}", where) + f"\nSELECT {select} FROM {source} {tail}"
    return sql, [flags.personal_domains(store), *scope[1], *params, *(extra or [])]


def count(store: Store, f: MemberFilter) -> int:
    sql, params = query(store, f, "count(*)")
    with store.read() as cur:
        return int(cur.execute(sql, params).fetchone()[0])


def page(store: Store, f: MemberFilter, *, limit: int = PAGE_SIZE, offset: int = 0) -> pd.DataFrame:
    """One page of filtered, sorted members with the page's columns.

    Keys first: the filter, sort and LIMIT/OFFSET select only `(partner_bc_id, member_key)`; the display
    columns and flag lists are then built for those keys alone, not for every member before the Top-N.
    """
    if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
        raise ValueError(f"limit must be 1..{MAX_PAGE_SIZE} and offset not negative")
    keys_sql, keys_params = query(store, f, "partner_bc_id, member_key", f"{_order(f)} LIMIT ? OFFSET ?",
                                  [limit, offset])
    with store.read() as cur:  # one snapshot for both steps
        keys = cur.execute(keys_sql, keys_params).fetchall()
        sql, params = _page_rows_sql(store, f, keys)
        return cur.execute(sql, params).df()


def _page_rows_sql(store: Store, f: MemberFilter, keys: list[tuple[str, str]]) -> tuple[str, list[object]]:
    """The page's display columns and flag lists, built only for its keys (in their order)."""
    select = ("partner_bc_id, member_key, coalesce(user_name, user_email) AS member, user_email, partner, role, "
              "finance_role, status, assets, {flags} AS flags, first_seen, last_seen, removed_at")
    if not keys:
        return query(store, f, select, scope=("false", []))
    marks = ", ".join("?" * len(keys))
    scope = (f"m.partner_bc_id IN ({marks}) AND m.member_key IN ({marks})",
             [bc for bc, _ in keys] + [key for _, key in keys])
    values = ", ".join(f"(?, ?, {pos})" for pos in range(len(keys)))
    source = (f"filtered JOIN (VALUES {values}) AS page_keys(k_bc, k_key, k_pos) "
              "ON k_bc = partner_bc_id AND k_key = member_key")
    return query(store, f, select, "ORDER BY k_pos", [v for pair in keys for v in pair], source=source, scope=scope)


def export_sql(store: Store, f: MemberFilter) -> tuple[str, list[object]]:
    """Every filtered row with the export's text columns, in the filter's order."""
    select = ", ".join(f'{expr} AS "{name}"' for name, expr in EXPORT_COLUMNS.items())
    return query(store, f, select, _order(f))


def partner_options(store: Store) -> dict[str, str]:
    """Partner BC id → name of every partner with synced members (the page's partner filter)."""
    with store.read() as cur:
        rows = cur.execute(
            """SELECT p.bc_id, p.name FROM partners p
               WHERE EXISTS (SELECT 1 FROM members m WHERE m.partner_bc_id = p.bc_id)
               ORDER BY lower(p.name), p.bc_id"""
        ).fetchall()
    return {bc_id: name or bc_id for bc_id, name in rows}


# -- changes ----------------------------------------------------------------------------------------

CHANGE_LABELS = {"added": "Added", "removed": "Removed", "role_changed": "Role changed",
                 "finance_role_changed": "Finance role changed", "status_changed": "Status changed"}


def changes(store: Store, *, partner_bc_id: str | None = None, include_baseline: bool = False,
            limit: int = 500) -> pd.DataFrame:
    """The change log, newest first: when, which sync, partner, member, what changed (from → to)."""
    with store.read() as cur:
        return cur.execute(
            """SELECT c.changed_at, c.task_id, p.name AS partner, coalesce(m.user_name, m.user_email) AS member,
                      m.user_email, c.change, c.old_value, c.new_value, coalesce(s.baseline, false) AS baseline
               FROM member_changes c
               JOIN partners p ON p.bc_id = c.partner_bc_id
               LEFT JOIN members m ON m.partner_bc_id = c.partner_bc_id AND m.member_key = c.member_key
               LEFT JOIN member_syncs s ON s.task_id = c.task_id AND s.partner_bc_id = c.partner_bc_id
               WHERE (? IS NULL OR c.partner_bc_id = ?) AND (? OR NOT coalesce(s.baseline, false))
               ORDER BY c.changed_at DESC, c.id DESC LIMIT ?""",
            [partner_bc_id, partner_bc_id, include_baseline, limit],
        ).df().assign(change=lambda d: d["change"].map(lambda c: CHANGE_LABELS.get(c, c)))


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
        new_admins, added, removed, role_changes = cur.execute(
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
    period = "since last week" if days == 7 else f"in the last {days} days"
    if not (added or removed or role_changes):
        return f"No guest user changes {period}."
    details = [text for n, text in ((added, _plural(added, "guest user") + " added"),
                                    (removed, _plural(removed, "guest user") + " removed"),
                                    (role_changes, _plural(role_changes, "role change"))) if n]
    return f"{_plural(new_admins, 'new admin')} {period} ({', '.join(details)})."


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
