"""Whole frames into a table on either store's cursor (`bulk_insert`), and a cursor's dialect (`dialect_of`)."""

from __future__ import annotations

import re
import uuid
from contextlib import suppress

import duckdb
import pandas as pd
import pyarrow as pa

from core.store.cursor import Cursor

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def dialect_of(cur: Cursor) -> str:
    """The dialect of a unit of work's cursor: "duckdb" or "postgresql"."""
    return "duckdb" if isinstance(cur, duckdb.DuckDBPyConnection) else "postgresql"


def bulk_insert(cur: Cursor, table: str, df: pd.DataFrame | pa.Table) -> int:
    """Insert a whole frame; returns the row count. DuckDB: one `INSERT INTO table BY NAME SELECT * FROM frame`;
    PostgreSQL: one COPY.

    Columns are matched by name (missing ones take their defaults). `table` is an identifier, not a
    parameter, so it must match `[A-Za-z_][A-Za-z0-9_]*`.
    """
    if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"not a valid table name: {table!r}")
    rows = df.num_rows if isinstance(df, pa.Table) else len(df)
    if rows == 0:
        return 0
    if not isinstance(cur, duckdb.DuckDBPyConnection):
        from core.store.postgres_cursor import copy_rows

        return copy_rows(cur, table, df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False))
    view = f"_bulk_{uuid.uuid4().hex}"
    cur.register(view, df)
    try:
        result = cur.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM "{view}"').fetchone()
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses this too; the real error wins
            cur.unregister(view)
    return int(result[0]) if result else rows
