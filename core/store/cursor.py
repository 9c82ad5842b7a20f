"""What a unit of work holds: the cursor protocol both stores yield (DuckDB's own cursor, or `PgCursor`).

SQL is written once with `?` (positional) or `$name` (named, with a dict) placeholders; the PostgreSQL cursor
translates them. `register(name, table)` makes an Arrow table or a pandas frame queryable as `name` until
`unregister(name)` (DuckDB scans it in place; PostgreSQL copies it into a temporary table with COPY).
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd
import pyarrow as pa


class Relation(Protocol):
    """A query's result as Arrow (DuckDB's relation; the PostgreSQL store returns the same shape)."""

    def to_arrow_table(self) -> pa.Table: ...

    def to_arrow_reader(self, batch_size: int = ...) -> pa.RecordBatchReader: ...


class Cursor(Protocol):
    def execute(self, query: str, parameters: object = None, /) -> Cursor: ...

    def executemany(self, query: str, parameters: object = None, /) -> Cursor: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def df(self) -> pd.DataFrame: ...

    def fetchnumpy(self) -> dict[str, Any]: ...

    def sql(self, query: str, *, params: object = None) -> Relation: ...

    def register(self, view_name: str, python_object: object, /) -> Cursor: ...

    def unregister(self, view_name: str, /) -> Cursor: ...

    def close(self) -> None: ...
