"""Guest users as the Members page, the CSV export and the CLI see them: server-side filtering, sorting
and paging in DuckDB, the change log per sync, and the Partners summary line.

Every query is parameterised; the only SQL text built from input is the ORDER BY, and it comes from the
`SORTS` allow-list. Flags are boolean columns computed in the query (see `core.members.flags`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from core.errors import InvalidInput
from core.members import flags
from core.store.database import Store, StoreError
from core.tiktok.labels import ROLES, STATUSES, label, label_sql

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

# sort key → SQL expression over the `filtered` relation (never user text)
SORTS = {
    "member": "member_lower",  # lower(coalesce(user_name, user_email)), stored by the sync (migration 008)
    "email": "email_lower",
    "partner": "partner_lower",
    "role": "role",
    "finance_role": "finance_role",
    "status": "status",
    "assets": "asset_count",
    "flags": "flag_count",
    "first_seen": "first_seen",
    "last_seen": "last_seen",
    "removed_at": "removed_at",
}

PAGE_COLUMNS = [
    "member",
    "user_email",
    "partner",
    "role",
    "finance_role",
    "status",
    "assets",
    "flags",
    "first_seen",
    "last_seen",
    "removed_at",
]

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
    task_id: int | None = None  # only the members this sync task changed (the alert digest's link)

    def __post_init__(self) -> None:
        for name, values, allowed in (
            ("role", self.roles, ROLES),
            ("status", self.statuses, STATUSES),
            ("flag", self.flags, flags.BY_KEY),
        ):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise InvalidInput(f"unknown {name} {unknown[0]!r}; choose from {', '.join(allowed)}")
        if self.sort not in SORTS:
            raise InvalidInput(f"cannot sort by {self.sort!r}; choose from {', '.join(SORTS)}")
        if self.task_id is not None and (isinstance(self.task_id, bool) or not isinstance(self.task_id, int)):
            raise InvalidInput(f"the task must be a task number, not {self.task_id!r}")

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
            if not isinstance(items, Iterable):
                raise TypeError(f"'{type(items).__name__}' object is not iterable")
            return tuple(str(v).strip() for v in items if str(v).strip())

        def flag(name: str) -> bool:
            return str(data.get(name, "")).lower() in ("1", "true", "yes", "on")

        return cls(
            partners=values("partners"),
            roles=tuple(v.upper() for v in values("roles")),
            statuses=tuple(v.upper() for v in values("statuses")),
            flags=values("flags"),
            search=str(data.get("search") or ""),
            include_removed=flag("include_removed"),
            sort=str(data.get("sort") or "partner"),
            descending=flag("descending"),
            task_id=task_number(data.get("task_id")),
        )

    def to_query(self) -> dict[str, str]:
        """Query parameters that `from_mapping` reads back."""
        query = {
            "partners": ",".join(self.partners),
            "roles": ",".join(self.roles),
            "statuses": ",".join(self.statuses),
            "flags": ",".join(self.flags),
            "search": self.search,
            "include_removed": "1" if self.include_removed else "",
            "sort": self.sort,
            "descending": "1" if self.descending else "",
            "task_id": "" if self.task_id is None else str(self.task_id),
        }
        return {k: v for k, v in query.items() if v}


def task_number(raw: object) -> int | None:
    """A sync task's number from a query parameter or JSON (`12`, `"12"`, `"#12"`); None when empty."""
    text = str(raw if raw is not None else "").strip().removeprefix("#")
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(f"the task must be a task number, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Source:
    """The rows the queries read as `m`: the live `members` table, or a table with its columns (an access
    review's frozen snapshot, `core.reviews`).

    `where` (with `params`) is applied before any other condition; `flag_keys` names a column listing the keys
    of the flags each row had when it was frozen (instead of computing them now); `columns` adds or replaces
    display columns (name → SQL over `m`); `partners`, the relation (`bc_id`, `name`) that partner order and
    partner-name search read. Table, column names and SQL are code constants, never user text.
    """

    table: str = "members"
    where: str = "true"
    params: tuple[object, ...] = ()
    flag_keys: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    partners: str = "partners"

    def condition(self, flag: flags.Flag) -> str:
        if self.flag_keys is None:
            return flag.condition()
        return f"list_contains(m.{self.flag_keys}, '{flag.key}')"


MEMBERS = Source()


# The columns of `flagged` (one row per member) and their SQL over `members m`, `parts p` and `params`: a
# query gets only those it names, and the CTEs and join only those columns need (see `_base_sql`).
_COLUMNS = {
    "row_id": "m.rowid",
    "partner_bc_id": "m.partner_bc_id",
    "member_key": "m.member_key",
    "user_id": "m.user_id",
    "user_name": "m.user_name",
    "user_email": "m.user_email",
    "member": "coalesce(m.user_name, m.user_email)",
    "member_lower": "m.member_lower",
    "email_lower": "m.email_lower",
    "partner": "p.name",
    "partner_lower": "p.partner_lower",
    "user_role": "m.user_role",
    "relation_status": "m.relation_status",
    "role": label_sql("role", "m.user_role"),
    "finance_role": label_sql("finance_role", "m.finance_role"),
    "status": label_sql("status", "m.relation_status"),
    "assets": "coalesce(m.assets, '')",
    "asset_count": "coalesce(m.asset_count, 0)",
    "first_seen": "m.first_seen",
    "last_seen": "m.last_seen",
    "removed_at": "m.removed_at",
    # stored by the sync (migration 010); evaluated only for a row written without it
    "row_flag_count": f"coalesce(m.row_flag_count, {flags.row_flag_count_sql('m')})",
}


def _columns(src: Source) -> dict[str, str]:
    """The columns of `flagged` for rows read from `src`."""
    return {
        **_COLUMNS,
        **{flags.column(f): f"coalesce(({src.condition(f)}), false)" for f in flags.FLAGS},
        **dict(src.columns),
    }


_OTHER_FLAGS = len(flags.FLAGS) - len(flags.ROW_FLAGS)  # the flags a row flag count leaves out
_FLAG_COUNT = " + ".join(
    ["row_flag_count::INTEGER", *(f"{flags.column(f)}::INTEGER" for f in flags.FLAGS if f.key not in flags.ROW_FLAGS)]
)
_PARTS = "parts AS (SELECT bc_id, name, lower(name) AS partner_lower FROM partners)"
_PARTS_WITH_LATEST = """latest AS (
    SELECT partner_bc_id, arg_max(task_id, synced_at) AS task_id, arg_max(baseline, synced_at) AS baseline
    FROM member_syncs GROUP BY partner_bc_id),
parts AS (
    SELECT bc_id, name, lower(name) AS partner_lower, l.task_id AS latest_task_id, l.baseline AS latest_baseline
    FROM partners LEFT JOIN latest l ON l.partner_bc_id = bc_id)"""


def _base_sql(where: str, outer: str, src: Source = MEMBERS) -> tuple[str, bool]:
    """`filtered`: the members matching `where` (SQL over `m`, `p` and `params`) with the columns that `outer`
    (the SQL reading `filtered`) names; and whether the first parameter is the personal-domain list.

    Only those columns, and only the CTEs and the partner join they need: DuckDB would prune the others, but
    only after planning them, and planning every display and flag column with their joins was a large share of
    a page view, as is joining every member to its partner (benchmarks/RESULTS.md, members_query).
    """
    counted = re.search(r"\bflag_count\b", outer) is not None
    if counted:
        outer += " " + _FLAG_COUNT
    columns = {name: sql for name, sql in _columns(src).items() if name == "row_id" or re.search(rf"\b{name}\b", outer)}
    body = " ".join(columns.values()) + " " + where
    ctes = []
    personal = "params" in body
    if personal:
        ctes.append("params AS (SELECT ?::VARCHAR[] AS domains)")
    join = ""
    if re.search(r"\bp\.", body):
        join = "JOIN parts p ON p.bc_id = m.partner_bc_id"
        ctes.append(_PARTS_WITH_LATEST if "latest_" in body else _PARTS)
    flag_count = f", {_FLAG_COUNT} AS flag_count" if counted else ""
    select = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    ctes += [
        f"flagged AS (\n    SELECT {select}\n    FROM {src.table} m {join}\n    WHERE {{scope}} AND {where})",
        f"filtered AS (SELECT *{flag_count} FROM flagged)",
    ]
    return "WITH " + ",\n".join(ctes), personal


def _flags_list() -> str:
    """The labels of a row's flags, as a list (computed only for the rows selected: it is not cheap)."""
    labels = ", ".join(f"CASE WHEN {flags.column(f)} THEN '{f.label}' END" for f in flags.FLAGS)
    return f"list_filter([{labels}], lambda x: x IS NOT NULL)"


def _where(f: MemberFilter, src: Source = MEMBERS) -> tuple[str, list[object]]:
    """The filter as a condition on `members m` (and `p`, `params` for some flags), with its parameters.

    Flags are tested by their bare conditions (a NULL fails a WHERE as false does): wrapped in the flag
    column's `coalesce`, DuckDB evaluates them on every decoded row instead of in the scan.
    """
    clauses: list[str] = []
    params: list[object] = []
    if not f.include_removed:
        # a semi-join with the few removed partners: half the time of joining every member to its partner
        clauses.append(
            "m.removed_at IS NULL AND m.partner_bc_id NOT IN (SELECT bc_id FROM partners WHERE removed_at IS NOT NULL)"
        )
    for column, values in (("partner_bc_id", f.partners), ("user_role", f.roles), ("relation_status", f.statuses)):
        if values:
            clauses.append(f"list_contains(?::VARCHAR[], m.{column})")
            params.append(list(values))
    if f.task_id is not None:
        # a semi-join: each member once, however many changes the task made to it
        clauses.append(
            "EXISTS (SELECT 1 FROM member_changes c WHERE c.task_id = ?"
            " AND c.partner_bc_id = m.partner_bc_id AND c.member_key = m.member_key)"
        )
        params.append(f.task_id)
    if f.flags:
        clauses.append("(" + " OR ".join(f"({src.condition(flags.BY_KEY[k])})" for k in f.flags) + ")")
    term = f.search.strip().lower()
    if term:
        # member_lower is the lower-cased e-mail when there is no name: the e-mail is searched anyway; the
        # partner names are searched once each, not once per member (a list of the partners found, bound
        # instead, becomes a 250-way OR per member)
        clauses.append(
            "(contains(m.member_lower, ?) OR contains(m.email_lower, ?) OR m.user_id = ?"
            f" OR m.partner_bc_id IN (SELECT bc_id FROM {src.partners} WHERE contains(lower(name), ?)))"
        )
        params.extend([term, term, f.search.strip(), term])
    return (" AND ".join(clauses) or "true"), params


def _order(f: MemberFilter) -> str:
    direction = "DESC" if f.descending else "ASC"
    return f"ORDER BY {SORTS[f.sort]} {direction} NULLS LAST, partner_bc_id, member_key"


def sort_keys(f: MemberFilter) -> tuple[str, str]:
    """The filter's order for a query that sorts outside `query`'s SELECT: the select items carrying the sort
    keys (`_sort_key`, `_sort_bc`, `_sort_member`) and the ORDER BY over them."""
    direction = "DESC" if f.descending else "ASC"
    return (
        f"{SORTS[f.sort]} AS _sort_key, partner_bc_id AS _sort_bc, member_key AS _sort_member",
        f"ORDER BY _sort_key {direction} NULLS LAST, _sort_bc, _sort_member",
    )


def query(
    store: Store,
    f: MemberFilter | None,
    select: str,
    tail: str = "",
    extra: list[object] | None = None,
    scope: tuple[str, list[object]] = ("true", []),
    cur: duckdb.DuckDBPyConnection | None = None,
    src: Source = MEMBERS,
) -> tuple[str, list[object]]:
    """SQL and parameters selecting `select` (`{flags}` stands for the flag list) from the filtered members.

    `scope` is a condition on `members m` (with its parameters) applied before any display column is built;
    `cur`, the snapshot the SQL will run in, to read the settings it needs; `src`, the rows read.
    """
    where, params = _where(f, src) if f is not None else ("true", [])
    select = select.replace("{flags}", _flags_list())
    outer = f"SELECT {select} FROM filtered {tail}"
    base, personal = _base_sql(where, outer, src)
    domains = [flags.personal_domains(store, cur)] if personal else []
    sql = base.replace("{scope}", f"({src.where}) AND {scope[0]}") + "\n" + outer
    return sql, [*domains, *src.params, *scope[1], *params, *(extra or [])]


def count(store: Store, f: MemberFilter, *, src: Source = MEMBERS) -> int:
    with store.read() as cur:
        return _count(cur, store, f, src=src)


def _count(cur: duckdb.DuckDBPyConnection, store: Store, f: MemberFilter, src: Source = MEMBERS) -> int:
    sql, params = query(store, f, "count(*)", cur=cur, src=src)
    return int(_single_row(cur, sql, params)[0])


@dataclass(frozen=True)
class MemberView:
    """What the Members page shows: one page of filtered, sorted members, and where it is among them."""

    rows: pd.DataFrame
    total: int  # filtered members
    page: int  # 1-based, the last page when the one asked for is past the end
    pages: int
    offset: int


def view(
    store: Store, f: MemberFilter, page_number: int = 1, *, page_size: int = PAGE_SIZE, src: Source = MEMBERS
) -> MemberView:
    """The page `page_number` of the filtered members with their total, in one snapshot and the fewest passes
    over the members: in partner order the counts per partner give the total and the partners the page
    spans; a search is evaluated once for both the total and the page."""
    _check(page_size, 0)
    with store.read() as cur:
        if f.search.strip():
            total, number, ids = _searched_page(cur, store, f, page_number, page_size, src=src)
        else:
            sizes = _sizes(cur, store, f, src=src)
            total = sum(n for _, n in sizes) if sizes is not None else _count(cur, store, f, src=src)
            number = _clamped(page_number, total, page_size)
            ids = _ids(cur, store, f, sizes, page_size, (number - 1) * page_size, src=src)
        rows = _page_rows(cur, store, ids, src=src)
    return MemberView(rows, total, number, _page_count(total, page_size), (number - 1) * page_size)


def page(
    store: Store, f: MemberFilter, *, limit: int = PAGE_SIZE, offset: int = 0, src: Source = MEMBERS
) -> pd.DataFrame:
    """Any `limit` filtered, sorted members from `offset`, with the page's columns.

    Row ids first: the filter, sort and LIMIT/OFFSET select only the members' `rowid`; the display columns
    and flag lists are then built for those rows alone, in the same snapshot, so the rows are exactly the
    ones the filter selected. (Carrying the display columns through the Top-N instead was slower.)
    """
    _check(limit, offset)
    with store.read() as cur:  # one snapshot for every step
        if f.search.strip():  # a search would be evaluated twice for the sizes and the ids
            ids = _top_ids(cur, store, f, limit, offset, src=src)
        else:
            ids = _ids(cur, store, f, _sizes(cur, store, f, src=src), limit, offset, src=src)
        return _page_rows(cur, store, ids, src=src)


def _check(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE} and offset not negative")


def _page_count(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


def _clamped(page_number: int, total: int, page_size: int) -> int:
    return min(max(1, page_number), _page_count(total, page_size))


def _sizes(
    cur: duckdb.DuckDBPyConnection, store: Store, f: MemberFilter, src: Source = MEMBERS
) -> list[tuple[Any, int]] | None:
    """What the sort's ids are found with, and what gives the total: the filtered members per partner in
    partner order, or per row flag count in the flag-count order; None for the other sorts."""
    if f.sort == "partner":
        return _partner_counts(cur, store, f, src=src)
    if f.sort == "flags":
        return _row_flag_histogram(cur, store, f, src=src)
    return None


def _ids(
    cur: duckdb.DuckDBPyConnection,
    store: Store,
    f: MemberFilter,
    sizes: list[tuple[Any, int]] | None,  # the partner ids or row flag counts `_sizes` gives for f.sort
    limit: int,
    offset: int,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of the members of a page, in page order, given the sort's `_sizes`."""
    if sizes is None:  # a sort `_sizes` has nothing for
        return _top_ids(cur, store, f, limit, offset, src=src)
    if f.sort == "partner":
        return _ids_in_partner_order(cur, store, f, sizes, limit, offset, src=src)
    if f.sort == "flags":
        return _ids_by_flag_count(cur, store, f, sizes, limit, offset, src=src)
    return _top_ids(cur, store, f, limit, offset, src=src)


def _top_ids(
    cur: duckdb.DuckDBPyConnection,
    store: Store,
    f: MemberFilter,
    limit: int,
    offset: int,
    scope: tuple[str, list[object]] = ("true", []),
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of the members of a page, in page order (`scope`: see `query`)."""
    sql, params = query(
        store, f, "row_id", f"{_order(f)} LIMIT ? OFFSET ?", [limit, offset], scope=scope, cur=cur, src=src
    )
    return [row_id for (row_id,) in cur.execute(sql, params).fetchall()]


def _searched_page(
    cur: duckdb.DuckDBPyConnection,
    store: Store,
    f: MemberFilter,
    page_number: int,
    page_size: int,
    src: Source = MEMBERS,
) -> tuple[int, int, list[int]]:
    """A search's total, page number and page `rowid`s from one evaluation of the search.

    The matches are materialised with their sort keys (a search matches few members), then counted and
    sorted. The partner sort joins the partners' places in partner order to the matches only: partner names
    joined to every member before the search cost more than the search, and an integer sorts faster than a
    name (benchmarks/RESULTS.md).
    """
    direction = "DESC" if f.descending else "ASC"
    by_partner = f.sort == "partner"
    key = "" if by_partner else f", {SORTS[f.sort]} AS _sort_key"
    hits, params = query(
        store, f, f"row_id, partner_bc_id AS _sort_bc, member_key AS _sort_member{key}", cur=cur, src=src
    )
    places = (
        f"SELECT bc_id, row_number() OVER (ORDER BY lower(name) {direction} NULLS LAST, bc_id) AS place "
        f"FROM {src.partners}"
    )
    keyed = (
        f"(SELECT h.*, k.place AS _sort_key FROM hits h JOIN ({places}) k ON k.bc_id = h._sort_bc)"
        if by_partner
        else "hits"
    )
    order = f"ORDER BY _sort_key {'ASC' if by_partner else direction} NULLS LAST, _sort_bc, _sort_member"
    sql = (
        f"WITH hits AS MATERIALIZED ({hits}) SELECT (SELECT count(*) FROM hits), "
        f"(SELECT list(row_id {order}) FROM (SELECT * FROM {keyed} {order} LIMIT ? OFFSET ?))"
    )
    number = max(1, page_number)
    total, ids = _single_row(cur, sql, [*params, page_size, (number - 1) * page_size])
    if number > _page_count(total, page_size):  # past the end: the last page (rare, so evaluated again)
        number = _page_count(total, page_size)
        total, ids = _single_row(cur, sql, [*params, page_size, (number - 1) * page_size])
    return int(total), number, list(ids or [])


def _row_flag_histogram(
    cur: duckdb.DuckDBPyConnection, store: Store, f: MemberFilter, src: Source = MEMBERS
) -> list[tuple[int, int]]:
    """(row flag count, filtered members with it)."""
    sql, params = query(store, f, "row_flag_count, count(*)", "GROUP BY row_flag_count", cur=cur, src=src)
    return cur.execute(sql, params).fetchall()


def _ids_by_flag_count(
    cur: duckdb.DuckDBPyConnection,
    store: Store,
    f: MemberFilter,
    histogram: list[tuple[int, int]],
    limit: int,
    offset: int,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of a page in flag-count order, evaluating the other flags only where they can matter.

    A member's flag count is its row flag count plus at most `_OTHER_FLAGS`. The `offset + limit`-th member
    by row flag count (R) bounds the page's flag counts, so every member of the page (descending) has a row
    flag count of at least R - `_OTHER_FLAGS` (ascending: at most R + `_OTHER_FLAGS`). The Top-N runs over
    those members only, which the scan selects (most members have no flag).
    """
    row_flags = _nth(histogram, offset + limit, f.descending)
    if row_flags is None:  # the page reaches the last member: every member can be on it
        return _top_ids(cur, store, f, limit, offset, src=src)
    bound = (">=", row_flags - _OTHER_FLAGS) if f.descending else ("<=", row_flags + _OTHER_FLAGS)
    scope: tuple[str, list[object]] = (f"(m.row_flag_count IS NULL OR m.row_flag_count {bound[0]} ?)", [bound[1]])
    return _top_ids(cur, store, f, limit, offset, scope, src=src)


def _nth(histogram: list[tuple[int, int]], n: int, descending: bool) -> int | None:
    """The `n`-th value in order of a (value, how many) histogram; None when it has fewer."""
    seen = 0
    for value, how_many in sorted(histogram, reverse=descending):
        seen += how_many
        if seen >= n:
            return value
    return None


def _partner_counts(
    cur: duckdb.DuckDBPyConnection, store: Store, f: MemberFilter, src: Source = MEMBERS
) -> list[tuple[str, int]]:
    """The filtered members of each partner, in partner order."""
    direction = "DESC" if f.descending else "ASC"
    counts, params = query(store, f, "partner_bc_id, count(*) AS n", "GROUP BY partner_bc_id", cur=cur, src=src)
    sql = (
        f"SELECT c.partner_bc_id, c.n FROM ({counts}) c JOIN {src.partners} p ON p.bc_id = c.partner_bc_id "
        f"ORDER BY lower(p.name) {direction} NULLS LAST, c.partner_bc_id"
    )  # the 250 partners, not 1M members
    return cur.execute(sql, params).fetchall()


def _ids_in_partner_order(
    cur: duckdb.DuckDBPyConnection,
    store: Store,
    f: MemberFilter,
    counts: list[tuple[str, int]],
    limit: int,
    offset: int,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of a page in partner order, as the same page of only the partners it spans.

    The filtered members per partner, counted in partner order, tell which partners the page spans. A Top-N
    over all members in partner order cannot skip rows while it scans (the partner name comes from a join),
    and it keeps `offset + limit` rows in its heap, which grows with the page number; counting per
    partner costs about what `count` does. The spanned partners are sorted by their place in `counts`, so
    no partner name is joined to the members.
    """
    spanned, skipped, seen = [], 0, 0
    for bc_id, members_of_partner in counts:
        if seen + members_of_partner <= offset:
            skipped += members_of_partner
        elif seen < offset + limit:
            spanned.append(bc_id)
        seen += members_of_partner
    if not spanned:
        return []
    sql, params = query(
        store,
        replace(f, partners=tuple(spanned)),
        "row_id",
        "ORDER BY list_position(?::VARCHAR[], partner_bc_id), member_key LIMIT ? OFFSET ?",
        [spanned, limit, offset - skipped],
        cur=cur,
        src=src,
    )
    return [row_id for (row_id,) in cur.execute(sql, params).fetchall()]


def _page_rows(cur: duckdb.DuckDBPyConnection, store: Store, row_ids: list[int], src: Source = MEMBERS) -> pd.DataFrame:
    """The page's display columns (and the columns `src` adds) and flag lists, built only for its rows, in
    their order.

    Fetched as tuples with the flags as booleans, then framed here: DuckDB's `.df()` and a `list_filter`
    lambda for the labels were over half of this step's time (benchmarks/RESULTS.md).
    """
    fields = ["partner_bc_id", "member_key", *(c for c in PAGE_COLUMNS if c != "flags")]
    fields += [name for name, _ in src.columns if name not in fields]
    select = ", ".join(["row_id", *fields, *(flags.column(f) for f in flags.FLAGS)])
    # a semi-join with the ids: half the time of `rowid IN (?, ?, ...)` (a mark join over the scanned rows)
    scope: tuple[str, list[object]] = ("m.rowid IN (SELECT unnest(?::BIGINT[]))", [row_ids])
    sql, params = query(store, None, select, scope=scope, cur=cur, src=src)
    found = {row[0]: row[1:] for row in cur.execute(sql, params).fetchall()}
    rows = [found[row_id] for row_id in row_ids if row_id in found]
    frame = pd.DataFrame([row[: len(fields)] for row in rows], columns=fields)
    for column in ("first_seen", "last_seen", "removed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    labels = [[f.label for f, on in zip(flags.FLAGS, row[len(fields) :], strict=True) if on] for row in rows]
    frame.insert(fields.index("assets") + 1, "flags", pd.Series(labels, dtype=object))
    return frame


def export_sql(store: Store, f: MemberFilter) -> tuple[str, list[object]]:
    """Every filtered row with the export's text columns, in the filter's order."""
    select = ", ".join(f'{expr} AS "{name}"' for name, expr in EXPORT_COLUMNS.items())
    return query(store, f, select, _order(f))


# The columns that page views scan over every member (filters, sorts, search, flags), not only fetch per page.
_SCANNED = (
    "partner_bc_id",
    "member_key",
    "user_id",
    "user_role",
    "finance_role",
    "relation_status",
    "last_seen",
    "removed_at",
    "added_task_id",
    "asset_count",
    "asset_admin",
    "member_lower",
    "email_lower",
    "email_domain",
    "row_flag_count",
)


def warm(store: Store) -> None:
    """Read the columns page views scan once, so DuckDB holds them in memory before the first Members page
    view: a column read from the file for the first time slows that view down. The app does
    this in the background at start (`ui/routes.py`); a failure only logs."""
    try:
        with store.read() as cur:
            cur.execute(f"SELECT {', '.join(f'min({c})' for c in _SCANNED)} FROM members").fetchall()
    except (duckdb.Error, StoreError) as exc:
        log.info("Could not read the members columns ahead of the first page view: %s", exc)


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
                   WHERE (? IS NULL OR c.partner_bc_id = ?) AND (? OR NOT coalesce(s.baseline, false))
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
        new_admins, added, removed, role_changes = _single_row(
            cur,
            """SELECT count(*) FILTER (WHERE (c.change = 'added' AND c.new_value = 'ADMIN')
                                          OR (c.change = 'role_changed' AND c.new_value = 'ADMIN')),
                      count(*) FILTER (WHERE c.change = 'added'),
                      count(*) FILTER (WHERE c.change = 'removed'),
                      count(*) FILTER (WHERE c.change = 'role_changed')
               FROM member_changes c
               LEFT JOIN member_syncs s ON s.task_id = c.task_id AND s.partner_bc_id = c.partner_bc_id
               WHERE c.changed_at >= ? AND NOT coalesce(s.baseline, false)""",
            [since],
        )
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


def _single_row(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (aggregates without GROUP BY)."""
    row = cur.execute(sql, params).fetchone()
    assert row is not None
    return row


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
