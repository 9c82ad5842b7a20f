"""Spreadsheet-safe CSV: every field quoted, UTF-8, CRLF, and formula injection defused.

A cell that starts with `= + - @`, tab, CR, LF, NUL or a full-width `＝ ＋ － ＠` gets a leading `'` so
that spreadsheets show it as text instead of running it. The member export, the audit log export and
every later report write through here. Large exports build each row's line in DuckDB with `csv_line_sql`
(byte for byte what `csv_chunks` writes for text cells) and join a batch of lines with `joined_lines`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

import pyarrow as pa

DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_IN_LIST = 4
_FULL_WIDTH = 0xFF00  # the Halfwidth and Fullwidth Forms block


def safe_cell(value: object) -> str:
    """The cell as text, with `'` in front when a spreadsheet could read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(DANGEROUS_STARTS) else text


def csv_chunks(header: Iterable[str], batches: Iterable[Iterable[Iterable[object]]]) -> Iterator[bytes]:
    """One UTF-8 chunk for the header, then one per batch of rows; every field quoted, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")

    def flush() -> bytes:
        chunk = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return chunk

    writer.writerow([safe_cell(name) for name in header])
    yield flush()
    for rows in batches:
        writer.writerows([safe_cell(value) for value in row] for row in rows)
        chunk = flush()
        if chunk:
            yield chunk


def csv_line_sql(cells: list[str]) -> str:
    """`csv_chunks` for one row of text columns, as SQL: `safe_cell` on each, every field quoted, CRLF."""
    # Each cell is a column of `cells`, not its expression: DuckDB would evaluate an expression per reference.
    fields = [
        f"CASE WHEN ({_dangerous_start(f'ascii({c})')}) AND {c} <> '' THEN '''' ELSE '' END, "  # ascii('') is 0
        # LIKE, not strpos: DuckDB runs `LIKE '%"%'` as a byte search, strpos counts characters
        f"""CASE WHEN {c} LIKE '%"%' THEN replace({c}, '"', '""') ELSE {c} END"""
        for c in cells
    ]
    return "concat('\"', " + ", '\",\"', ".join(fields) + ", '\"', chr(13), chr(10))"


def _dangerous_start(code: str) -> str:
    """SQL true when the code point `code` is one of `DANGEROUS_STARTS`: most cells start with a letter or a
    digit, which the bounds of the low and the full-width codes rule out before any list is compared."""
    codes = sorted(ord(c) for c in DANGEROUS_STARTS)
    low = [c for c in codes if c < ord("0")]
    wide = [c for c in codes if c >= _FULL_WIDTH]
    middle = [c for c in codes if c not in low and c not in wide]
    return (
        f"({code} < {ord('0')} AND ({_in_lists(code, low)})) OR {_in_lists(code, middle)} "
        f"OR ({code} >= {_FULL_WIDTH} AND ({_in_lists(code, wide)}))"
    )


def _in_lists(code: str, codes: list[int]) -> str:
    # IN lists of at most four: DuckDB plans a longer list as a hash join per column (a hash table per thread).
    return " OR ".join(
        f"{code} IN (" + ", ".join(map(str, codes[i : i + _IN_LIST])) + ")" for i in range(0, len(codes), _IN_LIST)
    )


def joined_lines(lines: pa.StringArray) -> bytes:
    """The lines end to end: their span of the array's data buffer, copied once."""
    if not pa.types.is_string(lines.type):  # large_string / string_view buffers are laid out differently
        raise TypeError(f"export lines came back as Arrow {lines.type}, not string")
    _, offsets, data = lines.buffers()
    positions = memoryview(offsets).cast("i")  # the int32 offsets of an Arrow `string` array
    joined: bytes = data[positions[lines.offset] : positions[lines.offset + len(lines)]].to_pybytes()  # untyped
    return joined
