"""A CSV written to `--out`: checked before the command runs, streamed through a temporary file, rows counted."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from core.cli.errors import UsageError


def check_out(path: Path) -> None:
    """UsageError unless `path` names a file in an existing folder."""
    if path.is_dir():
        raise UsageError(f"--out {path}: is a directory; name the CSV file to write")
    if not path.parent.is_dir():
        raise UsageError(f"--out {path}: the folder {path.parent} does not exist")


def write_chunks(chunks: Iterable[bytes], out: Path) -> int:
    """Write the CSV to `out` (via a temporary file, so a failed export leaves no half file); data rows."""
    partial = out.with_name(out.name + ".partial")
    newlines = 0
    try:
        with partial.open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                newlines += chunk.count(b"\r\n")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return _data_rows(out) if newlines else 0


def _data_rows(path: Path) -> int:
    """Data rows of an export we wrote (quoted fields may hold line breaks, so parse it)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)
