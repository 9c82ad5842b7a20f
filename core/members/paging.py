"""The Members page's rows: one page of the filtered, sorted members and the total (`view`), any slice of
them (`page`), the count (`count`), found in the fewest passes over the members at 1M rows; the partner filter's
choices, and the warm-up of the columns page views scan.

A page is found as row ids first (`page_ids`: a strategy per sort), then its display columns and flag lists are
built for those rows alone, in the same snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import duckdb
import pandas as pd

from core.errors import InvalidInput
from core.members import flags, page_ids
from core.members.columns import FLAG_COLUMNS, query
from core.members.filters import MemberFilter, Where
from core.members.source import MEMBERS, Source
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
    counted = page_ids.counted_where(store, f, src)
    if counted is not None:
        sql, params = page_ids.from_counts(cur, store, counted, "coalesce(sum(members), 0)")
    else:
        sql, params = query(store, f, (), "count(*)", cur=cur, src=src)
    return int(page_ids.single_row(cur, sql, params)[0])


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
        sizes = page_ids.sort_sizes(cur, store, f, src=src)
        if sizes is None and f.search.strip():
            total, number, ids = page_ids.searched_page(cur, store, f, page_number, page_size, src=src)
        else:
            total = sum(n for _, n in sizes) if sizes is not None else _count(cur, store, f, src=src)
            number = _clamped(page_number, total, page_size)
            ids = page_ids.row_ids(cur, store, f, sizes, page_size, (number - 1) * page_size, src=src)
        rows = _page_rows(cur, store, ids, src=src)
    return MemberView(rows, total, number, page_ids.page_count(total, page_size), (number - 1) * page_size)


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
            ids = page_ids.top_ids(cur, store, f, limit, offset, src=src)
        else:
            ids = page_ids.row_ids(cur, store, f, page_ids.sort_sizes(cur, store, f, src=src), limit, offset, src=src)
        return _page_rows(cur, store, ids, src=src)


def _check(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE or offset < 0:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE_SIZE} and offset not negative")


def _clamped(page_number: int, total: int, page_size: int) -> int:
    return min(max(1, page_number), page_ids.page_count(total, page_size))


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
