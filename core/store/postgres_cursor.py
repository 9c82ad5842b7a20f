"""PgCursor: a pooled PostgreSQL connection inside one unit of work, speaking the `Cursor` protocol DuckDB's cursor
speaks (placeholders translated, results as Arrow or pandas, a DML statement's row count as its one row), with
`register(name, table)` as a temporary table dropped at the end of the transaction, and `copy_rows` (COPY)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus

from core.store.cursor import Cursor, Relation
from core.store.postgres_arrow import arrow_table, batches, pg_type, python_rows
from core.store.postgres_placeholders import prepared, sendable, translate

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def copy_rows(cur: Cursor, table: str, frame: pa.Table) -> int:
    """COPY an Arrow table's rows into `table` (columns by name); the row count."""
    if not isinstance(cur, PgCursor):
        raise TypeError("copy_rows needs a PostgreSQL cursor")
    if not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"not a valid table name: {table!r}")
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(pgsql.Identifier(name) for name in frame.column_names)
    )
    with cur.raw.copy(statement) as copy:
        for row in python_rows(frame):
            copy.write_row(row)
    return int(frame.num_rows)


class _Result:
    """A query's rows as Arrow (the shape of DuckDB's relation that the code uses), run when they are asked for:
    `to_arrow_table` fetches them all; `to_arrow_reader` streams them from a server-side cursor, a batch at a
    time, so a large result (the export) is never held whole in this process."""

    def __init__(self, cursor: PgCursor, query: str, params: object) -> None:
        self._cursor, self._query, self._params = cursor, query, params

    def to_arrow_table(self) -> pa.Table:
        return self._cursor.execute(self._query, self._params).fetch_arrow_table()

    def to_arrow_reader(self, batch_size: int = 100_000) -> pa.RecordBatchReader:
        text, values = prepared(self._query, self._params)
        stream = self._cursor.connection.cursor(name=f"pw_stream_{id(self):x}")
        try:
            stream.execute(text, cast(Sequence[Any] | dict[str, Any] | None, values))
            first = arrow_table(stream.description, stream.fetchmany(batch_size))
        except BaseException:
            stream.close()
            raise
        return pa.RecordBatchReader.from_batches(first.schema, batches(stream, first, batch_size))


class PgCursor:
    """A connection of the pool inside one unit of work, speaking the `Cursor` protocol."""

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.connection = connection
        self.raw = connection.cursor()

    def execute(self, query: str, parameters: object = None, /) -> PgCursor:
        text, values = prepared(query, parameters)
        self.raw.execute(text, cast(Sequence[Any] | dict[str, Any] | None, values))
        return self

    def executemany(self, query: str, parameters: object = None, /) -> PgCursor:
        rows = list(parameters) if isinstance(parameters, Sequence) else []
        text, _ = translate(query)
        self.raw.executemany(text, [[sendable(v) for v in row] for row in rows])
        return self

    @property
    def description(self) -> list[psycopg.Column] | None:
        return self.raw.description

    def fetchone(self) -> tuple[Any, ...] | None:
        if self.raw.description is None:  # as DuckDB: an INSERT, UPDATE or DELETE gives its row count
            return (self.raw.rowcount,)
        return self.raw.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.raw.description is None:
            return [(self.raw.rowcount,)]
        return self.raw.fetchall()

    def fetch_arrow_table(self) -> pa.Table:
        return arrow_table(self.raw.description, self.raw.fetchall())

    def df(self) -> pd.DataFrame:
        frame: pd.DataFrame = self.fetch_arrow_table().to_pandas()
        return frame

    def fetchnumpy(self) -> dict[str, Any]:
        table = self.fetch_arrow_table()
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}

    def sql(self, query: str, *, params: object = None) -> Relation:
        return _Result(self, query, params)

    def register(self, view_name: str, python_object: object, /) -> PgCursor:
        """A temporary table `view_name` holding the frame's rows (dropped at the end of the transaction)."""
        if not _IDENTIFIER.fullmatch(view_name):
            raise ValueError(f"not a valid table name: {view_name!r}")
        frame = python_object if isinstance(python_object, pa.Table) else None
        if frame is None and isinstance(python_object, pd.DataFrame):
            frame = pa.Table.from_pandas(python_object, preserve_index=False)
        if frame is None:
            raise TypeError(f"cannot register a {type(python_object).__name__}")
        parts: list[pgsql.Composable] = [
            pgsql.SQL("{} {}").format(pgsql.Identifier(field.name), pgsql.SQL(pg_type(field.type)))
            for field in frame.schema
        ]
        columns = pgsql.SQL(", ").join(parts)
        self.raw.execute(
            pgsql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(pgsql.Identifier(view_name), columns)
        )
        if frame.num_rows:
            copy_rows(self, view_name, frame)
        self.raw.execute(pgsql.SQL("ANALYZE {}").format(pgsql.Identifier(view_name)))
        return self

    def unregister(self, view_name: str, /) -> PgCursor:
        """Drop the temporary table (an aborted transaction drops it at its rollback)."""
        if self.connection.info.transaction_status == TransactionStatus.INTRANS:
            self.raw.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(view_name)))
        return self

    def close(self) -> None:
        self.raw.close()
