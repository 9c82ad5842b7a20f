"""The Members page's rows: one page of the filtered, sorted members and the total (`view`), any slice of
them (`page`), the count (`count`), found in the fewest passes over the members at 1M rows; the partner filter's
choices, and the warm-up of the columns page views scan.

A page is found as row ids first (a strategy per sort: counts per partner, a histogram of row flag counts, or a
Top-N), then its display columns and flag lists are built for those rows alone, in the same snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import pandas as pd

from core.errors import InvalidInput
from core.members import flags
from core.members.columns import DOMAINS_CTE, EVERY, FLAG_COLUMNS, OTHER_FLAGS, order, order_reads, query
from core.members.filters import SORTS, MemberFilter, Where, membership, search_parts
from core.members.source import MEMBERS, Need, Source
from core.store.cursor import Cursor
from core.store.database import Store, StoreError

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

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


def count(store: Store, f: MemberFilter, *, src: Source = MEMBERS) -> int:
    with store.read() as cur:
        return _count(cur, store, f, src=src)


def _count(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> int:
    counted = _counted(store, f, src)
    if counted is not None:
        sql, params = _from_counts(cur, store, counted, "coalesce(sum(members), 0)")
    else:
        sql, params = query(store, f, (), "count(*)", cur=cur, src=src)
    return int(_single_row(cur, sql, params)[0])


def _counted(store: Store, f: MemberFilter, src: Source) -> Where | None:
    """On PostgreSQL, for a filter of the members that reads only what `member_counts` (migrations 017 and 018) is
    kept per (who the member is, and the flags but "new since the latest sync"), the filter as a condition on its
    rows `c`: counts are then sums over a few thousand rows, not a scan of every member. None elsewhere (DuckDB
    counts by scanning its columns, which is fast there)."""
    if store.dialect != "postgresql" or src != MEMBERS or f.search.strip() or f.task_id is not None:
        return None
    chosen = [flags.BY_KEY[key] for key in f.flags]
    conditions = [flag.count_condition("c") for flag in chosen]
    clauses, params = membership(f, "c", "NOT c.removed")
    if chosen:
        if None in conditions:
            return None
        clauses.append("(" + " OR ".join(f"({condition})" for condition in conditions) + ")")
    needs: frozenset[Need] = frozenset().union(*(flag.needs for flag in chosen))
    return Where(" AND ".join(clauses) or "true", tuple(params), needs)


def _from_counts(cur: Cursor, store: Store, counted: Where, select: str, tail: str = "") -> tuple[str, list[Any]]:
    """SQL and parameters for `SELECT {select} FROM member_counts c WHERE {counted} {tail}` (with the personal
    domains when the condition reads them)."""
    domains = Need.DOMAINS in counted.needs
    head = f"WITH {DOMAINS_CTE} " if domains else ""
    sql = f"{head}SELECT {select} FROM member_counts c WHERE {counted.sql} {tail}"
    return sql, [*([flags.personal_domains(store, cur)] if domains else []), *counted.params]


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
        sizes = _sizes(cur, store, f, src=src)
        if sizes is None and f.search.strip():
            total, number, ids = _searched_page(cur, store, f, page_number, page_size, src=src)
        else:
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


def _sizes(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> list[tuple[Any, int]] | None:
    """What the sort's ids are found with, and what gives the total: the filtered members per partner in
    partner order, or per row flag count in the flag-count order; None for the other sorts, and for a search
    but on PostgreSQL in partner order (`_searched_partner_counts`)."""
    if f.search.strip():
        return _searched_partner_counts(cur, store, f, src) if f.sort == "partner" else None
    if f.sort == "partner":
        return _partner_counts(cur, store, f, src=src)
    if f.sort == "flags":
        return _row_flag_histogram(cur, store, f, src=src)
    if f.sort == "last_seen":
        return _seen_groups(cur, store, f, src=src)
    return None


def _ids(
    cur: Cursor,
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
    if f.sort == "last_seen":
        return _ids_by_seen_group(cur, store, f, sizes, limit, offset, src=src)
    return _top_ids(cur, store, f, limit, offset, src=src)


def _top_ids(
    cur: Cursor,
    store: Store,
    f: MemberFilter,
    limit: int,
    offset: int,
    scope: Where = EVERY,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of the members of a page, in page order (`scope`: see `query`)."""
    sql, params = query(
        store, f, order_reads(f), "row_id", f"{order(f)} LIMIT ? OFFSET ?", [limit, offset], scope, cur, src
    )
    return [row_id for (row_id,) in cur.execute(sql, params).fetchall()]


def _searched_page(
    cur: Cursor,
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
    reads = ("partner_bc_id", "member_key") if by_partner else order_reads(f)
    hits, params = query(
        store, f, reads, f"row_id, partner_bc_id AS _sort_bc, member_key AS _sort_member{key}", cur=cur, src=src
    )
    places = (
        f"SELECT bc_id, row_number() OVER (ORDER BY lower(name) {direction} NULLS LAST, bc_id) AS place "
        f"FROM {src.partners} AS sp"  # the alias: PostgreSQL names every subquery, and src.partners may be one
    )
    keyed = (
        f"(SELECT h.*, k.place AS _sort_key FROM hits h JOIN ({places}) k ON k.bc_id = h._sort_bc) AS keyed"
        if by_partner
        else "hits"
    )
    by_key = f"ORDER BY _sort_key {'ASC' if by_partner else direction} NULLS LAST, _sort_bc, _sort_member"
    sql = (
        f"WITH hits AS MATERIALIZED ({hits}) SELECT (SELECT count(*) FROM hits), "
        f"(SELECT array_agg(row_id {by_key}) FROM (SELECT * FROM {keyed} {by_key} LIMIT ? OFFSET ?) AS page)"
    )
    number = max(1, page_number)
    total, ids = _single_row(cur, sql, [*params, page_size, (number - 1) * page_size])
    if number > _page_count(total, page_size):  # past the end: the last page (rare, so evaluated again)
        number = _page_count(total, page_size)
        total, ids = _single_row(cur, sql, [*params, page_size, (number - 1) * page_size])
    return int(total), number, list(ids or [])


def _row_flag_histogram(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> list[tuple[int, int]]:
    """(row flag count, filtered members with it); where `member_counts` serves the filter (PostgreSQL), the
    count is that of the `_KNOWN_FLAGS` (the row flags and personal e-mail) instead."""
    counted = _counted(store, f, src)
    if counted is not None:
        with_domains = replace(counted, needs=counted.needs | {Need.DOMAINS})
        known = "c.row_flag_count + coalesce(c.email_domain IN (SELECT unnest(domains) FROM params), false)::INTEGER"
        tail = "GROUP BY known HAVING sum(members) > 0"
        sql, params = _from_counts(cur, store, with_domains, f"{known} AS known, sum(members)::BIGINT", tail)
        return cur.execute(sql, params).fetchall()
    reads = ("row_flag_count",)
    sql, params = query(store, f, reads, "row_flag_count, count(*)", "GROUP BY row_flag_count", cur=cur, src=src)
    return cur.execute(sql, params).fetchall()


# The flags `member_counts` tells apart (PostgreSQL): the row flags and personal e-mail; a member's flag count is
# its count of these plus at most the `_UNKNOWN_FLAGS` (new since the latest sync).
_KNOWN_FLAGS = (*flags.ROW_FLAGS, "personal_email")
_UNKNOWN_FLAGS = tuple(f for f in OTHER_FLAGS if f.key not in _KNOWN_FLAGS)


def _ids_by_flag_count(
    cur: Cursor,
    store: Store,
    f: MemberFilter,
    histogram: list[tuple[int, int]],
    limit: int,
    offset: int,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of a page in flag-count order, evaluating the other flags only where they can matter.

    A member's flag count is its row flag count plus at most `OTHER_FLAGS`. The `offset + limit`-th member
    by row flag count (R) bounds the page's flag counts, so every member of the page (descending) has a row
    flag count of at least R - `OTHER_FLAGS` (ascending: at most R + `OTHER_FLAGS`). The Top-N runs over
    those members only, which the scan selects (most members have no flag).

    Where the histogram counts the `_KNOWN_FLAGS` (PostgreSQL), R is a count of those, which only the
    `_UNKNOWN_FLAGS` add to: descending, every member of the page has at least R - `_UNKNOWN_FLAGS` known flags
    (a row flag count of at least that, or one less and a personal e-mail domain, which an index on both finds);
    ascending, at most R + `_UNKNOWN_FLAGS` row flags.
    """
    nth = _nth(histogram, offset + limit, f.descending)
    if nth is None:  # the page reaches the last member: every member can be on it
        return _top_ids(cur, store, f, limit, offset, src=src)
    if _counted(store, f, src) is None:
        others = len(OTHER_FLAGS)
        bound = (">=", nth - others) if f.descending else ("<=", nth + others)
        scope = Where(f"(m.row_flag_count IS NULL OR m.row_flag_count {bound[0]} ?)", (bound[1],))
    elif f.descending:
        known = nth - len(_UNKNOWN_FLAGS)
        scope = Where(
            "(m.row_flag_count IS NULL OR m.row_flag_count >= ?"
            " OR (m.row_flag_count = ? AND m.email_domain = ANY(?::VARCHAR[])))",
            (known, known - 1, flags.personal_domains(store, cur)),
        )
    else:
        scope = Where("(m.row_flag_count IS NULL OR m.row_flag_count <= ?)", (nth + len(_UNKNOWN_FLAGS),))
    return _top_ids(cur, store, f, limit, offset, scope, src=src)


def _nth(histogram: list[tuple[int, int]], n: int, descending: bool) -> int | None:
    """The `n`-th value in order of a (value, how many) histogram; None when it has fewer."""
    seen = 0
    for value, how_many in sorted(histogram, reverse=descending):
        seen += how_many
        if seen >= n:
            return value
    return None


def _partner_counts(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> list[tuple[str, int]]:
    """The filtered members of each partner, in partner order."""
    direction = "DESC" if f.descending else "ASC"
    counted = _counted(store, f, src)
    if counted is not None:
        tail = "GROUP BY partner_bc_id HAVING sum(members) > 0"
        counts, params = _from_counts(cur, store, counted, "partner_bc_id, sum(members)::BIGINT AS n", tail)
    else:
        select = "partner_bc_id, count(*) AS n"
        counts, params = query(store, f, ("partner_bc_id",), select, "GROUP BY partner_bc_id", cur=cur, src=src)
    sql = (
        f"SELECT c.partner_bc_id, c.n FROM ({counts}) c JOIN {src.partners} p ON p.bc_id = c.partner_bc_id "
        f"ORDER BY lower(p.name) {direction} NULLS LAST, c.partner_bc_id"
    )  # the 250 partners, not 1M members
    return cur.execute(sql, params).fetchall()


def _seen_groups(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> list[tuple[Any, int]] | None:
    """((last seen, partner), filtered members) in `last_seen` order, from PostgreSQL's `member_seen` (migration
    018) for a filter of who the member is by partner alone (partners, removed or not); None otherwise."""
    if store.dialect != "postgresql" or src != MEMBERS or f.search.strip() or f.flags or f.roles or f.statuses:
        return None
    if f.task_id is not None:
        return None
    clauses, params = membership(f, "c", "NOT c.removed")
    direction = "DESC" if f.descending else "ASC"
    sql = (
        "SELECT last_seen, partner_bc_id, sum(members)::BIGINT FROM member_seen c"
        f" WHERE {' AND '.join(clauses) or 'true'} GROUP BY last_seen, partner_bc_id HAVING sum(members) > 0"
        f" ORDER BY last_seen {direction} NULLS LAST, partner_bc_id"
    )
    return [((seen, bc_id), n) for seen, bc_id, n in cur.execute(sql, params).fetchall()]


def _ids_by_seen_group(
    cur: Cursor,
    store: Store,
    f: MemberFilter,
    groups: list[tuple[Any, int]],
    limit: int,
    offset: int,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of a page in `last_seen` order from the (last seen, partner) groups it spans, in order: only
    those partners' members are read (by the partner's index), the groups before it skipped by their counts."""
    spanned, skipped = _spanned(groups, limit, offset)
    if not spanned:
        return []
    scope = Where(
        "(" + " OR ".join("(m.partner_bc_id = ? AND m.last_seen IS NOT DISTINCT FROM ?)" for _ in spanned) + ")",
        tuple(value for last_seen, bc_id in spanned for value in (bc_id, last_seen)),
    )
    return _top_ids(cur, store, f, limit, offset - skipped, scope, src=src)


def _searched_partner_counts(
    cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS
) -> list[tuple[str, int]] | None:
    """A search's members of each partner, in partner order, where `member_counts` serves the rest of the filter
    (PostgreSQL): a partner whose name matches has every member of the rest of the filter, summed from the
    counts; the other partners' members are those the search matches by themselves, which its indexes find (a
    search for a partner's name matches thousands of members, of which a page needs 50). None elsewhere."""
    rest = replace(f, search="")
    counted = _counted(store, rest, src)
    if counted is None:
        return None
    person, named = search_parts(f, src, store.dialect)
    found = replace(counted, sql=f"{counted.sql} AND c.partner_bc_id = ANY(ARRAY({named.sql}))")
    found = replace(found, params=(*counted.params, *named.params))
    sql, params = _from_counts(cur, store, found, "partner_bc_id, sum(members)::BIGINT", "GROUP BY partner_bc_id")
    by_partner = dict(cur.execute(sql, params).fetchall())
    others = Where(f"({person.sql}) AND NOT m.partner_bc_id = ANY(ARRAY({named.sql}))", (*person.params, *named.params))
    select, tail = "partner_bc_id, count(*)", "GROUP BY partner_bc_id"
    sql, params = query(store, rest, ("partner_bc_id",), select, tail, scope=others, cur=cur, src=src)
    for bc_id, n in cur.execute(sql, params).fetchall():
        by_partner[bc_id] = by_partner.get(bc_id, 0) + n
    direction = "DESC" if f.descending else "ASC"
    order = f"SELECT bc_id FROM {src.partners} AS sp ORDER BY lower(name) {direction} NULLS LAST, bc_id"
    return [(bc_id, by_partner[bc_id]) for (bc_id,) in cur.execute(order).fetchall() if by_partner.get(bc_id)]


def _spanned(sizes: list[tuple[Any, int]], limit: int, offset: int) -> tuple[list[Any], int]:
    """The groups of `sizes` (group, members in it; in page order) that the page `offset`..`offset + limit`
    spans, and how many members the groups before them hold."""
    spanned, skipped, seen = [], 0, 0
    for group, members_of_group in sizes:
        if seen + members_of_group <= offset:
            skipped += members_of_group
        elif seen < offset + limit:
            spanned.append(group)
        seen += members_of_group
    return spanned, skipped


def _ids_in_partner_order(
    cur: Cursor,
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
    spanned, skipped = _spanned(counts, limit, offset)
    if not spanned:
        return []
    sql, params = query(
        store,
        replace(f, partners=tuple(spanned)),
        ("partner_bc_id", "member_key"),
        "row_id",
        "ORDER BY array_position(?::VARCHAR[], partner_bc_id), member_key LIMIT ? OFFSET ?",
        [spanned, limit, offset - skipped],
        cur=cur,
        src=src,
    )
    return [row_id for (row_id,) in cur.execute(sql, params).fetchall()]


def _page_rows(cur: Cursor, store: Store, row_ids: list[int], src: Source = MEMBERS) -> pd.DataFrame:
    """The page's display columns (and the columns `src` adds) and flag lists, built only for its rows, in
    their order.

    Fetched as tuples with the flags as booleans, then framed here: DuckDB's `.df()` and a `list_filter`
    lambda for the labels were over half of this step's time (benchmarks/RESULTS.md).
    """
    fields = ["partner_bc_id", "member_key", *(c for c in PAGE_COLUMNS if c != "flags")]
    fields += [name for name, _ in src.columns if name not in fields]
    reads = (*fields, *FLAG_COLUMNS)
    # a semi-join with the ids: half the time of `rowid IN (?, ?, ...)` (a mark join over the scanned rows)
    scope = Where("m.rowid IN (SELECT unnest(?::BIGINT[]))", (row_ids,))
    sql, params = query(store, None, reads, ", ".join(["row_id", *reads]), scope=scope, cur=cur, src=src)
    found = {row[0]: row[1:] for row in cur.execute(sql, params).fetchall()}
    rows = [found[row_id] for row_id in row_ids if row_id in found]
    frame = pd.DataFrame([row[: len(fields)] for row in rows], columns=fields)
    for column in ("first_seen", "last_seen", "removed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    labels = [[f.label for f, on in zip(flags.FLAGS, row[len(fields) :], strict=True) if on] for row in rows]
    frame.insert(fields.index("assets") + 1, "flags", pd.Series(labels, dtype=object))
    return frame


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
    this in the background at start (`ui/routes.py`); a failure only logs. PostgreSQL caches pages in its own
    server's shared buffers, shared by every process: nothing to read ahead here."""
    if store.dialect != "duckdb":
        return
    try:
        with store.read() as cur:
            cur.execute(f"SELECT {', '.join(f'min({c})' for c in _SCANNED)} FROM members").fetchall()
    except (duckdb.Error, StoreError) as exc:
        log.info("Could not read the members columns ahead of the first page view: %s", exc)


def _single_row(cur: Cursor, sql: str, params: list[Any]) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (aggregates without GROUP BY)."""
    row = cur.execute(sql, params).fetchone()
    assert row is not None
    return row
