"""Spreadsheet-safe CSV: every field quoted, UTF-8, CRLF, and formula injection defused.

A cell that starts with `= + - @`, tab, CR, LF, NUL or a full-width `＝ ＋ － ＠` gets a leading `'` so
that spreadsheets show it as text instead of running it. The member export, the audit log export and
every later report write through here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0", "\uff1d", "\uff0b", "\uff0d", "\uff20")


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
