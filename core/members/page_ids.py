"""Which rows make a page of the Members list: the rowids of one page, in page order, found with a strategy per
sort (counts per partner, a histogram of row flag counts, last-seen groups, or a Top-N), and the counts behind
them (`member_counts` where the filter allows). `paging` builds the page's display columns for those rows.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.members import flags
from core.members.columns import DOMAINS_CTE, EVERY, OTHER_FLAGS, order, order_reads, query
from core.members.filters import SORTS, MemberFilter, Where, membership, search_parts
from core.members.source import MEMBERS, Need, Source
from core.store.cursor import Cursor
from core.store.database import Store


def counted_where(store: Store, f: MemberFilter, src: Source) -> Where | None:
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


def from_counts(cur: Cursor, store: Store, counted: Where, select: str, tail: str = "") -> tuple[str, list[Any]]:
    """SQL and parameters for `SELECT {select} FROM member_counts c WHERE {counted} {tail}` (with the personal
    domains when the condition reads them)."""
    domains = Need.DOMAINS in counted.needs
    head = f"WITH {DOMAINS_CTE} " if domains else ""
    sql = f"{head}SELECT {select} FROM member_counts c WHERE {counted.sql} {tail}"
    return sql, [*([flags.personal_domains(store, cur)] if domains else []), *counted.params]


def page_count(total: int, page_size: int) -> int:
    return max(1, -(-total // page_size))


def sort_sizes(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> list[tuple[Any, int]] | None:
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


def row_ids(
    cur: Cursor,
    store: Store,
    f: MemberFilter,
    sizes: list[tuple[Any, int]] | None,  # the partner ids or row flag counts `sort_sizes` gives for f.sort
    limit: int,
    offset: int,
    src: Source = MEMBERS,
) -> list[int]:
    """The `rowid`s of the members of a page, in page order, given the sort's `sort_sizes`."""
    if sizes is None:  # a sort `sort_sizes` has nothing for
        return top_ids(cur, store, f, limit, offset, src=src)
    if f.sort == "partner":
        return _ids_in_partner_order(cur, store, f, sizes, limit, offset, src=src)
    if f.sort == "flags":
        return _ids_by_flag_count(cur, store, f, sizes, limit, offset, src=src)
    if f.sort == "last_seen":
        return _ids_by_seen_group(cur, store, f, sizes, limit, offset, src=src)
    return top_ids(cur, store, f, limit, offset, src=src)


def top_ids(
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


def searched_page(
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
    total, ids = single_row(cur, sql, [*params, page_size, (number - 1) * page_size])
    if number > page_count(total, page_size):  # past the end: the last page (rare, so evaluated again)
        number = page_count(total, page_size)
        total, ids = single_row(cur, sql, [*params, page_size, (number - 1) * page_size])
    return int(total), number, list(ids or [])


def _row_flag_histogram(cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS) -> list[tuple[int, int]]:
    """(row flag count, filtered members with it); where `member_counts` serves the filter (PostgreSQL), the
    count is that of the `_KNOWN_FLAGS` (the row flags and personal e-mail) instead."""
    counted = counted_where(store, f, src)
    if counted is not None:
        with_domains = replace(counted, needs=counted.needs | {Need.DOMAINS})
        known = "c.row_flag_count + coalesce(c.email_domain IN (SELECT unnest(domains) FROM params), false)::INTEGER"
        tail = "GROUP BY known HAVING sum(members) > 0"
        sql, params = from_counts(cur, store, with_domains, f"{known} AS known, sum(members)::BIGINT", tail)
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
        return top_ids(cur, store, f, limit, offset, src=src)
    if counted_where(store, f, src) is None:
        if not f.descending:
            ids = _fewest_flags_of_first_partners(cur, store, f, histogram, (limit, offset), src)
            if ids is not None:
                return ids
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
    return top_ids(cur, store, f, limit, offset, scope, src=src)


PREFIX_MARGIN = 4  # the first partners searched hold about this many times the members the page needs
PREFIX_TRIES = 2


def _fewest_flags_of_first_partners(
    cur: Cursor, store: Store, f: MemberFilter, histogram: list[tuple[int, int]], page: tuple[int, int], src: Source
) -> list[int] | None:
    """The `rowid`s of the page (`limit`, `offset`) in ascending flag-count order from the members of the first
    partners alone (by bc id), when that is provably the page; None when it cannot be told so (the caller then
    reads every member).

    No member has fewer flags than the lowest row flag count L. If the page's last member has L flags, every
    member of a later partner sorts after it (the same or more flags, then a greater partner id): the page of
    the first partners' members is the page of all. Most members have no flag, so a handful of partners usually
    holds the page, and the other flags are evaluated for their members only, not for every member.
    """
    limit, offset = page
    lowest = min(value for value, _ in histogram)
    at_lowest = sum(n for value, n in histogram if value == lowest)
    ids = [bc_id for (bc_id,) in cur.execute(f"SELECT bc_id FROM {src.partners} AS sp ORDER BY bc_id").fetchall()]
    partners = [bc_id for bc_id in ids if bc_id in f.partners] if f.partners else ids
    taken = max(1, -(-len(partners) * PREFIX_MARGIN * (offset + limit) // at_lowest))
    for _ in range(PREFIX_TRIES):
        if taken >= len(partners):
            return None
        scope = Where("m.partner_bc_id <= ?", (partners[taken - 1],))
        tail = f"{order(f)} LIMIT ? OFFSET ?"
        sql, params = query(store, f, order_reads(f), "row_id, flag_count", tail, [limit, offset], scope, cur, src)
        rows = cur.execute(sql, params).fetchall()
        if len(rows) == limit and rows[-1][1] == lowest:
            return [row_id for row_id, _ in rows]
        taken *= 2
    return None


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
    counted = counted_where(store, f, src)
    if counted is not None:
        tail = "GROUP BY partner_bc_id HAVING sum(members) > 0"
        counts, params = from_counts(cur, store, counted, "partner_bc_id, sum(members)::BIGINT AS n", tail)
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
    return top_ids(cur, store, f, limit, offset - skipped, scope, src=src)


def _searched_partner_counts(
    cur: Cursor, store: Store, f: MemberFilter, src: Source = MEMBERS
) -> list[tuple[str, int]] | None:
    """A search's members of each partner, in partner order, where `member_counts` serves the rest of the filter
    (PostgreSQL): a partner whose name matches has every member of the rest of the filter, summed from the
    counts; the other partners' members are those the search matches by themselves, which its indexes find (a
    search for a partner's name matches thousands of members, of which a page needs 50). None elsewhere."""
    rest = replace(f, search="")
    counted = counted_where(store, rest, src)
    if counted is None:
        return None
    person, named = search_parts(f, src, store.dialect)
    found = replace(counted, sql=f"{counted.sql} AND c.partner_bc_id = ANY(ARRAY({named.sql}))")
    found = replace(found, params=(*counted.params, *named.params))
    sql, params = from_counts(cur, store, found, "partner_bc_id, sum(members)::BIGINT", "GROUP BY partner_bc_id")
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


def single_row(cur: Cursor, sql: str, params: list[Any]) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (aggregates without GROUP BY)."""
    row = cur.execute(sql, params).fetchone()
    assert row is not None
    return row
