"""CSV export of guest users: streamed in chunks, every field quoted, safe against formula injection,
UTF-8 with a header row, and audited.

`stream_members` yields bytes chunks built from DuckDB record batches as they are fetched, so an export of a
million rows never becomes one Python string and Python holds one batch at a time. The ORDER BY is DuckDB's,
in consecutive ranges of the order of about `CHUNK_ROWS` rows each (`_ranges`): DuckDB's sort spills beyond the
memory limit, but its working memory still grows with the rows it sorts (benchmarks/RESULTS.md, Memory). DuckDB
writes each row's CSV line (`safe_csv.csv_line_sql`, byte for byte what
`csv_chunks` writes for text) and a chunk is a batch's lines as they lie in the Arrow buffer: no Python
work per row. A cell that starts with `= + - @`, tab, CR, LF, NUL or a full-width `＝ ＋ － ＠` gets a
leading `'` so that spreadsheets show it as text instead of running it.

The Members page authorises its **Download CSV** link with a short-lived, single-use export token:
`mint_token` stores only its SHA-256 with the filters and the user; `redeem_token` spends it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import NamedTuple
from urllib.parse import urlencode

import pyarrow as pa

from core.errors import UserError
from core.members import columns
from core.members.columns import EVERY
from core.members.filters import SORTS, MemberFilter, Where
from core.members.source import MEMBERS, Source
from core.security import audit
from core.security.roles import Actor, require_reader
from core.security.safe_csv import csv_chunks, csv_line_sql, joined_lines
from core.store.cursor import Cursor
from core.store.database import Store

EXPORT_PATH = "/api/export/members.csv"
BATCH_ROWS = 2_048  # DuckDB's vector size: larger batches cost resident memory (benchmarks/RESULTS.md, Memory)
# DuckDB sorts at most about this many rows at a time: its sort's working memory grows with the rows it sorts
# (benchmarks/RESULTS.md, Memory), so a larger export is sorted in consecutive ranges of its order.
CHUNK_ROWS = 250_000
SAMPLES_PER_CHUNK = 64  # the sampled sort keys that place each chunk's boundary
# A range of the partner order names its partners in a list that DuckDB searches for each member's partner, in
# the scan (cheap where the partner ids are dictionary-encoded, as members written partner by partner are) and
# for the sort key; up to this many partners, else the range scans every member (benchmarks/RESULTS.md).
SCOPED_PARTNERS = 128
# What DuckDB buffers of a streamed result ahead of the reader (its default: 10 MiB, outside its memory limit).
STREAM_BUFFER = "1MiB"
TOKEN_TTL = timedelta(minutes=10)


class ExportTokenError(UserError, PermissionError):
    """The export link is unknown, expired or already used."""


def stream_members(
    store: Store,
    f: MemberFilter,
    *,
    actor: Actor,
    batch_rows: int = BATCH_ROWS,
    via: str = "app",
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[bytes]:
    """The filtered guest users as CSV chunks; the export is audited when the stream ends (or stops).

    On DuckDB the rows are sorted `chunk_rows` at a time (see `_ranges`); PostgreSQL sorts them in one query.
    """
    require_reader(actor, "export guest users")
    return _audited(store, f, actor, via, batch_rows, chunk_rows)


class SortRange(NamedTuple):
    """One range's query over the filtered rows: the select items carrying its sort keys (`keys`, with their
    parameters `key_params`), its ORDER BY over them, the condition on them that selects the range (`where`,
    with `where_params`), and a condition on `m` that DuckDB can apply in its scan (`scope`: all of the range's
    rows and maybe more)."""

    keys: str
    order: str
    where: str = "TRUE"
    where_params: Sequence[object] = ()
    key_params: Sequence[object] = ()
    scope: Where = EVERY


def _lines_sql(store: Store, f: MemberFilter, r: SortRange) -> tuple[str, list[object]]:
    """One column, `line`: each row's CSV line (CRLF included) of the range `r`, in the filter's order.

    The line is built before the ORDER BY, so DuckDB's sort carries one string per row, not 13 columns.
    """
    names = [f"_cell{i}" for i in range(len(columns.EXPORT_COLUMNS))]
    cells = ", ".join(
        f"coalesce(({cell.sql})::VARCHAR, '') AS {name}"
        for name, cell in zip(names, columns.EXPORT_COLUMNS.values(), strict=True)
    )
    reads = (*columns.order_reads(f), *columns.reads_of(columns.EXPORT_COLUMNS.values()))
    sql, params = columns.query(store, f, reads, f"{r.keys}, {cells}", extra=r.key_params, scope=r.scope)
    line = f"SELECT {csv_line_sql(names)} AS line FROM ({sql}) AS cells WHERE {r.where} {r.order}"
    return line, [*params, *r.where_params]


SortKey = tuple[object, object, object]  # a row's (_sort_key, _sort_bc, _sort_member)


def boundaries(store: Store, cur: Cursor, f: MemberFilter, chunk_rows: int, src: Source = MEMBERS) -> list[SortKey]:
    """Sort keys that cut the filtered rows, in the filter's order, into ranges of about `chunk_rows` rows:
    every `SAMPLES_PER_CHUNK`-th key of a sample of one row in `chunk_rows / SAMPLES_PER_CHUNK` (by a hash of the
    rowid: the rowid itself aliases with how rows lie, e.g. by partner). None when the sample says there are
    fewer rows than `chunk_rows`. No cut leaves less than a quarter of a range after it: the last range, like
    every other, scans the members again, which a few hundred rows are not worth."""
    every = max(1, chunk_rows // SAMPLES_PER_CHUNK)
    per_chunk = max(1, chunk_rows // every)
    keys, order = columns.sort_keys(f)
    # a UBIGINT modulus, as hash() returns: with an INTEGER one DuckDB computes the modulo of every row in HUGEINT
    sampled = f"WHERE hash(row_id) % ?::UBIGINT = 0 {order}"
    sql, params = columns.query(store, f, columns.order_reads(f), keys, sampled, [every], src=src)
    sample = cur.execute(sql, params).fetchall()
    cuts = sample[per_chunk - 1 : len(sample) - per_chunk // 4 : per_chunk]
    return [(row[0], row[1], row[2]) for row in cuts]


def _after(f: MemberFilter, key: SortKey) -> tuple[str, list[object]]:
    """A condition true for the rows that the filter's order puts after the row of sort keys `key` (the order
    is `columns.sort_keys`': `_sort_key` then NULLs last, then `_sort_bc` and `_sort_member`, never NULL)."""
    value, bc_id, member_key = key
    tie = "(_sort_bc > ? OR (_sort_bc = ? AND _sort_member > ?))"
    if value is None:
        return f"(_sort_key IS NULL AND {tie})", [bc_id, bc_id, member_key]
    beyond = "<" if f.descending else ">"
    return (
        f"(_sort_key IS NULL OR _sort_key {beyond} ? OR (_sort_key = ? AND {tie}))",
        [value, value, bc_id, bc_id, member_key],
    )


def _ranges(store: Store, cur: Cursor, f: MemberFilter, chunk_rows: int) -> Iterator[tuple[str, list[object]]]:
    """The queries whose lines, one after the other, are the export: on DuckDB one per range of about
    `chunk_rows` rows of the filter's order, so that no sort holds more (DuckDB's sort needs working memory
    that grows with the rows it sorts and fails, rather than spilling, past the memory limit); each scans the
    members again (in the partner order, only its partners' members: `_partner_range`) but builds and sorts
    only its own rows' lines. On PostgreSQL, one query."""
    cuts = boundaries(store, cur, f, chunk_rows) if store.dialect == "duckdb" else []
    partners = _partner_order(cur, f) if cuts and SORTS[f.sort] == "partner_lower" else []
    bounds: list[SortKey | None] = [None, *cuts, None]
    for start, end in pairwise(bounds):
        span = _span(partners, start, end)
        r = _partner_range(span, start, end) if 0 < len(span) <= SCOPED_PARTNERS else key_range(f, start, end)
        yield _lines_sql(store, f, r)


def key_range(f: MemberFilter, start: SortKey | None, end: SortKey | None) -> SortRange:
    """The rows after `start` up to `end` (included), selected by a condition on their full sort key."""
    keys, order = columns.sort_keys(f)
    parts: list[str] = []
    params: list[object] = []
    if start is not None:
        after, more = _after(f, start)
        parts.append(after)
        params += more
    if end is not None:
        after, more = _after(f, end)
        parts.append(f"NOT {after}")
        params += more
    return SortRange(keys, order, " AND ".join(parts) or "TRUE", params)


def _partner_order(cur: Cursor, f: MemberFilter) -> list[str]:
    """The partners' BC ids in the order the partner sort puts their members (`columns.sort_keys`)."""
    direction = "DESC" if f.descending else "ASC"
    rows = cur.execute(f"SELECT bc_id FROM partners ORDER BY lower(name) {direction} NULLS LAST, bc_id").fetchall()
    return [str(row[0]) for row in rows]


def _span(partners: list[str], start: SortKey | None, end: SortKey | None) -> list[str]:
    """The partners (of `partners`, in order) from the one of `start` to the one of `end`, both included."""
    if not partners:
        return []
    first = partners.index(str(start[1])) if start is not None else 0
    last = partners.index(str(end[1])) if end is not None else len(partners) - 1
    return partners[first : last + 1]


def _partner_range(span: list[str], start: SortKey | None, end: SortKey | None) -> SortRange:
    """The rows of the partner order after `start` up to `end` (included), whose partners are `span`: DuckDB's
    scan skips the other partners' members (the partner's name comes from a join, too late for the scan), and
    the range sorts by the partner's place in `span` (an integer) and the member key."""
    parts: list[str] = []
    params: list[object] = []
    if start is not None:  # after the start's member in its partner
        parts.append("(_sort_place > 1 OR _sort_member > ?)")
        params.append(start[2])
    if end is not None:  # up to the end's member in its partner, included
        parts.append("(_sort_place < ? OR _sort_member <= ?)")
        params += [len(span), end[2]]
    return SortRange(
        "list_position(?::VARCHAR[], partner_bc_id) AS _sort_place, member_key AS _sort_member",
        "ORDER BY _sort_place, _sort_member",
        " AND ".join(parts) or "TRUE",
        params,
        [span],
        Where("list_position(?::VARCHAR[], m.partner_bc_id) IS NOT NULL", (span,)),
    )


@contextmanager
def ranged_reader(
    store: Store, ranges: Callable[[Cursor], Iterable[tuple[str, list[object]]]], batch_rows: int = BATCH_ROWS
) -> Iterator[Iterator[pa.RecordBatch]]:
    """A read, under the store's whole memory limit for the sorts (not the resting one page views run under),
    giving the record batches of the queries `ranges(cur)` gives (each range's sorted lines, see `_ranges`),
    one query after the other."""
    with store.memory_raised(), store.read() as cur:
        if store.dialect == "duckdb":  # a setting of this cursor's connection only
            cur.execute(f"SET streaming_buffer_size = '{STREAM_BUFFER}'")
        yield _batches(cur, ranges(cur), batch_rows)


def _batches(cur: Cursor, queries: Iterable[tuple[str, list[object]]], batch_rows: int) -> Iterator[pa.RecordBatch]:
    for sql, params in queries:
        # closed before the next range's query: an open result keeps its sort's memory pinned
        with cur.sql(sql, params=params).to_arrow_reader(batch_size=batch_rows) as reader:
            yield from reader


def _audited(
    store: Store, f: MemberFilter, actor: Actor, via: str, batch_rows: int, chunk_rows: int
) -> Iterator[bytes]:
    counted = _Counter()
    outcome = "interrupted"
    try:
        with ranged_reader(store, lambda cur: _ranges(store, cur, f, chunk_rows), batch_rows) as batches:
            yield from csv_chunks(columns.EXPORT_COLUMNS, [])
            yield from (joined_lines(b.column(0)) for b in counted.batches(batches) if b.num_rows)
        outcome = "ok"
    finally:
        audit.record(
            store,
            actor=actor.email,
            action="export.members",
            target="guest users CSV",
            outcome=outcome,
            detail=f"{counted.n} rows via {via}; filters {f.to_json()}",
        )


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def batches(self, reader: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in reader:
            self.n += batch.num_rows
            yield batch


def filename(now: datetime | None = None) -> str:
    return f"guest-users-{(now or datetime.now(UTC)):%Y%m%d-%H%M%S}.csv"


# -- single-use export tokens -----------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token(store: Store, actor: Actor, f: MemberFilter, *, ttl: timedelta = TOKEN_TTL) -> str:
    """A token for one download of exactly these filtered rows by this user; expired tokens are purged."""
    require_reader(actor, "export guest users")
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with store.write() as cur:
        cur.execute("DELETE FROM export_tokens WHERE expires_at < ?", [now - timedelta(days=1)])
        cur.execute(
            """INSERT INTO export_tokens (token_hash, actor, actor_role, filters, created_at, expires_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [_hash(token), actor.email, actor.role, f.to_json(), now, now + ttl],
        )
    return token


def download_url(token: str) -> str:
    """The relative URL of the export route for a minted token."""
    return f"{EXPORT_PATH}?{urlencode({'token': token})}"


def redeem_token(store: Store, token: str | None) -> tuple[Actor, MemberFilter]:
    """Spend a token: the user and filters it was minted for; ExportTokenError when it cannot be used."""
    if not token:
        raise ExportTokenError("This download link has no token: use Download CSV on the Members page.")
    now = datetime.now(UTC)
    with store.write() as cur:
        row = cur.execute(
            """UPDATE export_tokens SET used_at = ?
               WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
               RETURNING actor, actor_role, filters""",
            [now, _hash(token), now],
        ).fetchone()
    if row is None:
        raise ExportTokenError(
            "This download link has expired or was already used: go back to the Members "
            "page and click Download CSV again."
        )
    return Actor(row[0], row[1]), MemberFilter.from_json(row[2])
