"""The Members query, planned from explicit column lists.

`table` names every column a query can read: its SQL over the rows `m` and the relations it needs (`Need`:
the partner join, the partners' latest syncs, the personal-domain list). A caller of `query` lists the
columns its SELECT and tail read; the query computes `row_id` and those columns only, and adds only the CTEs
and the join that they and the filter's condition need. DuckDB would prune the others, but only after planning
them, and planning every column with its joins was a large share of a page view, as is joining every member
to its partner (benchmarks/RESULTS.md, members_query).

Every query is parameterised; the only SQL text built from input is the ORDER BY, and it comes from the
`SORTS` allow-list. Flags are boolean columns computed in the query (see `core.members.flags`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from core.members import filters, flags
from core.members.filters import SORTS, MemberFilter, Where
from core.members.source import MEMBERS, Need, Source
from core.store.cursor import Cursor
from core.store.database import Store
from core.tiktok.labels import label_sql


@dataclass(frozen=True)
class Column:
    """A column of the filtered members: SQL over `m` and the relations of `needs`; or, when it `reads` other
    columns, SQL over those, computed after them."""

    sql: str
    needs: frozenset[Need] = frozenset()
    reads: tuple[str, ...] = ()


_PARTNER = frozenset({Need.PARTNER})
EVERY = Where()  # no condition
# The columns of every source, in the order a query computes them (the flag columns and a source's own follow).
COLUMNS = {
    "row_id": Column("m.rowid"),
    "partner_bc_id": Column("m.partner_bc_id"),
    "member_key": Column("m.member_key"),
    "user_id": Column("m.user_id"),
    "user_name": Column("m.user_name"),
    "user_email": Column("m.user_email"),
    "member": Column("coalesce(m.user_name, m.user_email)"),
    "member_lower": Column("m.member_lower"),
    "email_lower": Column("m.email_lower"),
    "partner": Column("p.name", _PARTNER),
    "partner_lower": Column("p.partner_lower", _PARTNER),
    "user_role": Column("m.user_role"),
    "relation_status": Column("m.relation_status"),
    "role": Column(label_sql("role", "m.user_role")),
    "finance_role": Column(label_sql("finance_role", "m.finance_role")),
    "status": Column(label_sql("status", "m.relation_status")),
    "assets": Column("coalesce(m.assets, '')"),
    "asset_count": Column("coalesce(m.asset_count, 0)"),
    "first_seen": Column("m.first_seen"),
    "last_seen": Column("m.last_seen"),
    "removed_at": Column("m.removed_at"),
    # stored by the sync (migration 010); evaluated only for a row written without it
    "row_flag_count": Column(f"coalesce(m.row_flag_count, {flags.row_flag_count_sql('m')})"),
}
FLAG_COLUMNS = tuple(flags.column(f) for f in flags.FLAGS)
OTHER_FLAGS = tuple(f for f in flags.FLAGS if f.key not in flags.ROW_FLAGS)  # the flags a row flag count leaves out
# the row flag count plus the other flags (the sync cannot store those: they depend on other rows and settings)
FLAG_COUNT = Column(
    " + ".join(["row_flag_count::INTEGER", *(f"{flags.column(f)}::INTEGER" for f in OTHER_FLAGS)]),
    reads=("row_flag_count", *(flags.column(f) for f in OTHER_FLAGS)),
)
# The labels of a row's flags joined by "; ", over the `FLAG_COLUMNS` (computed only for the rows selected: it
# is not cheap); concat_ws skips the NULLs of the flags a row does not have.
FLAG_LABELS = "concat_ws('; ', {})".format(
    ", ".join(f"CASE WHEN {flags.column(f)} THEN '{f.label}' END" for f in flags.FLAGS)
)


def table(src: Source = MEMBERS) -> dict[str, Column]:
    """Every column a query over `src` can read, by name."""
    return {
        **COLUMNS,
        **{flags.column(f): _flag_column(f, src) for f in flags.FLAGS},
        **{name: Column(sql) for name, sql in src.columns},
        "flag_count": FLAG_COUNT,
    }


def _flag_column(flag: flags.Flag, src: Source) -> Column:
    condition = filters.flag_condition(flag, src)
    return Column(f"coalesce(({condition.sql}), false)", condition.needs)


class Cell(NamedTuple):
    """An item of a SELECT over the filtered members: its SQL, and the columns it reads."""

    sql: str
    reads: tuple[str, ...]


def time_text(column: str) -> str:
    """A UTC timestamp as `YYYY-MM-DD HH:MM:SS UTC` ('' for NULL): both stores print a timestamptz in ISO form
    in the session's time zone, UTC, so its first 19 characters are the date and time."""
    return f"coalesce(substr(CAST({column} AS VARCHAR), 1, 19) || ' UTC', '')"


# The export's header → its cell, every value rendered as text.
EXPORT_COLUMNS = {
    "Member": Cell("coalesce(user_name, '')", ("user_name",)),
    "Email": Cell("coalesce(user_email, '')", ("user_email",)),
    "User ID": Cell("coalesce(user_id, '')", ("user_id",)),
    "Partner": Cell("coalesce(partner, '')", ("partner",)),
    "Partner BC ID": Cell("partner_bc_id", ("partner_bc_id",)),
    "TikTok role": Cell("coalesce(role, '')", ("role",)),
    "Finance role": Cell("coalesce(finance_role, '')", ("finance_role",)),
    "Membership status": Cell("coalesce(status, '')", ("status",)),
    "Your assets reached": Cell("assets", ("assets",)),
    "Risk flags": Cell(FLAG_LABELS, FLAG_COLUMNS),
    "First seen": Cell(time_text("first_seen"), ("first_seen",)),
    "Last seen": Cell(time_text("last_seen"), ("last_seen",)),
    "Removed at": Cell(time_text("removed_at"), ("removed_at",)),
}


def reads_of(cells: Iterable[Cell]) -> tuple[str, ...]:
    """The columns some cells read."""
    return tuple(name for cell in cells for name in cell.reads)


def query(
    store: Store,
    f: MemberFilter | None,
    reads: Sequence[str],
    select: str,
    tail: str = "",
    extra: Sequence[object] = (),
    scope: Where = EVERY,
    cur: Cursor | None = None,
    src: Source = MEMBERS,
) -> tuple[str, list[object]]:
    """SQL and parameters for `SELECT {select} FROM filtered {tail}` (then `extra`'s parameters): `filtered`
    holds the members `f` selects (all with None) with `row_id` and the columns `reads` names.

    `scope` is a condition on `m` applied before any column is built; `cur`, the snapshot the SQL will run in,
    to read the settings it needs; `src`, the rows read.
    """
    condition = filters.where(f, src, store.dialect) if f is not None else EVERY
    early, late = _columns(table(src), reads)
    needs = condition.needs.union(scope.needs, *(column.needs for column in early.values()))
    ctes, join = _relations(needs)
    rows, found = f"{src.table} m", EVERY
    if f is not None and f.search.strip() and join and store.dialect == "duckdb":
        # DuckDB joins every member to its partner before a condition with a subquery (the search's partner
        # names): the members the search finds are selected first, then joined
        found, condition = filters.searched(f, src, store.dialect), filters.where(f, src, store.dialect, search=False)
        rows = f"(SELECT *, rowid AS rowid FROM {src.table} m WHERE {found.sql}) m"
    select_early = ", ".join(f"{column.sql} AS {name}" for name, column in early.items())
    select_late = "".join(f", {column.sql} AS {name}" for name, column in late.items())
    ctes += [
        f"flagged AS (\n    SELECT {select_early}\n    FROM {rows} {join}\n"
        f"    WHERE ({src.where}) AND {scope.sql} AND {condition.sql})",
        f"filtered AS (SELECT *{select_late} FROM flagged)",
    ]
    sql = "WITH " + ",\n".join(ctes) + f"\nSELECT {select} FROM filtered {tail}"
    domains = [flags.personal_domains(store, cur)] if Need.DOMAINS in needs else []
    return sql, [*domains, *found.params, *src.params, *scope.params, *condition.params, *extra]


def _columns(columns: dict[str, Column], reads: Sequence[str]) -> tuple[dict[str, Column], dict[str, Column]]:
    """The columns of `flagged` (`row_id`, those `reads` names and those the others read, in table order) and
    the columns of `filtered` computed from them."""
    unknown = sorted(set(reads) - columns.keys())
    if unknown:
        raise ValueError(f"the Members query has no column {unknown[0]!r}")
    late = {name: columns[name] for name in reads if columns[name].reads}
    wanted = {"row_id", *reads, *(name for column in late.values() for name in column.reads)}
    return {name: column for name, column in columns.items() if name in wanted and name not in late}, late


DOMAINS_CTE = "params AS (SELECT ?::VARCHAR[] AS domains)"  # the personal e-mail domains, `Need.DOMAINS`
_PARTS = "parts AS (SELECT bc_id, name, lower(name) AS partner_lower FROM partners)"
# the partners' latest syncs: one row per partner (migration 016), not a scan of every sync
_PARTS_WITH_LATEST = """parts AS (
    SELECT bc_id, name, lower(name) AS partner_lower, l.task_id AS latest_task_id, l.baseline AS latest_baseline
    FROM partners LEFT JOIN member_sync_latest l ON l.partner_bc_id = bc_id)"""


def _relations(needs: frozenset[Need]) -> tuple[list[str], str]:
    """The CTEs and the join of `m` that provide `needs`."""
    ctes = [DOMAINS_CTE] if Need.DOMAINS in needs else []
    if not needs & {Need.PARTNER, Need.LATEST_SYNC}:
        return ctes, ""
    ctes.append(_PARTS_WITH_LATEST if Need.LATEST_SYNC in needs else _PARTS)
    return ctes, "JOIN parts p ON p.bc_id = m.partner_bc_id"


def order_reads(f: MemberFilter) -> tuple[str, ...]:
    """The columns the filter's order reads."""
    return SORTS[f.sort], "partner_bc_id", "member_key"


def order(f: MemberFilter) -> str:
    """The filter's ORDER BY over the filtered members (reads `order_reads`)."""
    direction = "DESC" if f.descending else "ASC"
    return f"ORDER BY {SORTS[f.sort]} {direction} NULLS LAST, partner_bc_id, member_key"


def sort_keys(f: MemberFilter) -> tuple[str, str]:
    """The filter's order for a query that sorts outside `query`'s SELECT: the select items carrying the sort
    keys (`_sort_key`, `_sort_bc`, `_sort_member`; they read `order_reads`) and the ORDER BY over them."""
    direction = "DESC" if f.descending else "ASC"
    return (
        f"{SORTS[f.sort]} AS _sort_key, partner_bc_id AS _sort_bc, member_key AS _sort_member",
        f"ORDER BY _sort_key {direction} NULLS LAST, _sort_bc, _sort_member",
    )


def export_sql(store: Store, f: MemberFilter) -> tuple[str, list[object]]:
    """Every filtered row with the export's text columns, in the filter's order."""
    select = ", ".join(f'{cell.sql} AS "{name}"' for name, cell in EXPORT_COLUMNS.items())
    return query(store, f, (*reads_of(EXPORT_COLUMNS.values()), *order_reads(f)), select, order(f))
