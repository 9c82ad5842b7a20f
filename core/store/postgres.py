"""The PostgreSQL store (`PW_DATABASE_URL=postgresql://…`): the same surface as the DuckDB file, for processes
that share one database (app replicas, workers).

- A psycopg 3 connection pool (`psycopg_pool`); every unit of work borrows one connection (autocommit off at
  the server: the store sends BEGIN/COMMIT/ROLLBACK itself, as on DuckDB), in the session time zone UTC.
- `read()` runs in a REPEATABLE READ transaction (one snapshot for the whole block, as DuckDB's MVCC) and is
  rolled back at the end; inside a `write()` on the same thread it joins the write transaction.
- `write()` runs in a READ COMMITTED transaction under a process-wide lock per database (as on DuckDB, writes of
  one process are serialised, so the code's read-then-write units keep their guarantees within a process);
  writers of other processes run concurrently, and what must be claimed once across processes takes row locks
  (`FOR UPDATE SKIP LOCKED`) or unique keys (`ON CONFLICT`).
- SQL is written once with DuckDB's placeholders (`?`, `$name`, `$1`); `PgCursor` translates them to psycopg's
  (`%s`, `%(name)s`) and escapes a literal `%`. `register(name, table)` copies an Arrow table (or pandas frame)
  into a temporary table dropped at the end of the transaction, so the same `FROM name` works on both stores.
- `bulk_insert` is one COPY; results come back as Arrow (`sql(...).to_arrow_table()`) or pandas (`df()`); an
  INSERT, UPDATE or DELETE without RETURNING gives its row count as its one row, as on DuckDB.
- Migrations are the shared files, with `migrations/postgresql/NNN_x.sql` replacing a file where the SQL must
  differ; a session advisory lock makes concurrent starts apply them once.
- `rewrite()` is VACUUM FULL (a rewritten secret leaves no dead tuple behind in the tables).
- A server that cannot be reached (stopped, restarting, the network down) costs a caller at most `wait_s`
  (`PW_DATABASE_WAIT_S`, default 5 s), then `DatabaseUnavailable`, which says so to the person: the pool waits
  that long for a connection, each connection attempt that long, and the pool's reconnection attempts give up
  after about that long, so the first request after the server is back starts a fresh attempt at once instead
  of waiting for a reconnection backoff grown over the outage. A pool whose connections are all busy (the
  server answers) is not an outage: the caller waits for one up to `BUSY_WAIT_S`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from core.store.cursor import Cursor, Relation
from core.store.database import (
    MEMORY_LIMIT_MIB,
    MIGRATIONS_DIR,
    REWRITE_WAIT_S,
    WAIT_S,
    ConnectionLost,
    DatabaseUnavailable,
    Store,
    StoreError,
    discover_migrations,
    transaction,
)

log = logging.getLogger(__name__)

POOL_MAX = 16  # connections per process: the runner's pool, the UI's sessions and the scheduler share it
BUSY_WAIT_S = 30.0  # every connection in use by this process (the server answers): how long a caller waits in all
_MIGRATION_LOCK = 0x5057_4D49  # advisory lock key ("PWMI"): one process applies the migrations
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_write_locks: dict[str, threading.RLock] = {}
_write_locks_guard = threading.Lock()

# PostgreSQL type OIDs → Arrow types, for results (anything else is inferred from the Python values).
_ARROW_OF_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    17: pa.binary(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    25: pa.string(),
    700: pa.float32(),
    701: pa.float64(),
    1043: pa.string(),
    1042: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    1009: pa.list_(pa.string()),
    1015: pa.list_(pa.string()),
    1016: pa.list_(pa.int64()),
    1007: pa.list_(pa.int32()),
    19: pa.string(),
    114: pa.string(),
    3802: pa.string(),
}


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


# -- placeholders -------------------------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def translate(query: str) -> tuple[str, tuple[int, ...] | None]:
    """DuckDB placeholders → psycopg's: `?` → `%s`, `$name` → `%(name)s`, `$N` → `%s` (the order of the `$N`
    is returned, to reorder a positional list), a literal `%` → `%%`. Quoted strings, identifiers and comments
    are left alone (except `%`)."""
    out: list[str] = []
    numbered: list[int] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch in "'\"":
            end = i + 1
            while end < n:
                if query[end] == ch:
                    if end + 1 < n and query[end + 1] == ch:
                        end += 2
                        continue
                    break
                end += 1
            out.append(query[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif query.startswith("--", i):
            end = query.find("\n", i)
            end = n if end < 0 else end
            out.append(query[i:end].replace("%", "%%"))
            i = end
        elif ch == "?":
            out.append("%s")
            i += 1
        elif ch == "%":
            out.append("%%")
            i += 1
        elif ch == "$" and i + 1 < n and (query[i + 1].isalnum() or query[i + 1] == "_"):
            match = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*|\d+)", query[i:])
            assert match is not None
            name = match.group(1)
            if name.isdigit():
                numbered.append(int(name) - 1)
                out.append("%s")
            else:
                out.append(f"%({name})s")
            i += match.end()
        else:
            out.append(ch)
            i += 1
    return "".join(out), (tuple(numbered) if numbered else None)


def _value(value: object) -> object:
    """A parameter psycopg can send (numpy scalars and arrays become Python values)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_value(v) for v in value.tolist()]
    if isinstance(value, tuple):
        return [_value(v) for v in value]
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _prepared(query: str, parameters: object) -> tuple[str, object]:
    if parameters is None:
        return query, None
    text, numbered = translate(query)
    if isinstance(parameters, dict):
        return text, {str(k): _value(v) for k, v in parameters.items()}
    values = [_value(v) for v in parameters] if isinstance(parameters, Sequence) else [_value(parameters)]
    if numbered is not None:
        values = [values[index] for index in numbered]
    return text, values


# -- Arrow in and out ---------------------------------------------------------------------------------------


def _pg_type(dtype: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (temporary tables of `register`)."""
    if pa.types.is_dictionary(dtype):
        return _pg_type(dtype.value_type)
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype):
        return "text"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_int64(dtype) or pa.types.is_uint32(dtype) or pa.types.is_uint64(dtype):
        return "bigint"
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "double precision"
    if pa.types.is_timestamp(dtype):
        return "timestamptz" if dtype.tz else "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "bytea"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _pg_type(dtype.value_type) + "[]"
    raise StoreError(f"no PostgreSQL type for Arrow {dtype}")


def _arrow(description: Sequence[Any] | None, rows: list[tuple[Any, ...]]) -> pa.Table:
    if not description:
        return pa.table({})
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in description]
    arrays = []
    for column, values in zip(description, columns, strict=True):
        dtype = _ARROW_OF_OID.get(column.type_code)
        if pa.types.is_timestamp(dtype or pa.null()) and dtype == pa.timestamp("us", tz="UTC"):
            values = tuple(v.astimezone(UTC) if v is not None else None for v in values)
        arrays.append(pa.array(list(values), type=dtype))
    return pa.Table.from_arrays(arrays, names=[column.name for column in description])


def _python_rows(table: pa.Table) -> Iterator[tuple[Any, ...]]:
    return zip(*(column.to_pylist() for column in table.columns), strict=True)


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
        for row in _python_rows(frame):
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
        text, values = _prepared(self._query, self._params)
        stream = self._cursor.connection.cursor(name=f"pw_stream_{id(self):x}")
        try:
            stream.execute(text, cast(Sequence[Any] | dict[str, Any] | None, values))
            first = _arrow(stream.description, stream.fetchmany(batch_size))
        except BaseException:
            stream.close()
            raise
        return pa.RecordBatchReader.from_batches(first.schema, _batches(stream, first, batch_size))


def _batches(
    stream: psycopg.ServerCursor[tuple[Any, ...]], first: pa.Table, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """The server-side cursor's rows as record batches of the first batch's schema; closes the cursor."""
    try:
        table = first
        while table.num_rows:
            yield from table.to_batches()
            if table.num_rows < batch_size:
                return
            table = _arrow(stream.description, stream.fetchmany(batch_size)).cast(first.schema)
    finally:
        stream.close()


class PgCursor:
    """A connection of the pool inside one unit of work, speaking the `Cursor` protocol."""

    def __init__(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.connection = connection
        self.raw = connection.cursor()

    def execute(self, query: str, parameters: object = None, /) -> PgCursor:
        text, values = _prepared(query, parameters)
        self.raw.execute(text, cast(Sequence[Any] | dict[str, Any] | None, values))
        return self

    def executemany(self, query: str, parameters: object = None, /) -> PgCursor:
        rows = list(parameters) if isinstance(parameters, Sequence) else []
        text, _ = translate(query)
        self.raw.executemany(text, [[_value(v) for v in row] for row in rows])
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
        return _arrow(self.raw.description, self.raw.fetchall())

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
            pgsql.SQL("{} {}").format(pgsql.Identifier(field.name), pgsql.SQL(_pg_type(field.type)))
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


@contextmanager
def _lost_connection(cur: PgCursor) -> Iterator[None]:
    """A driver error that broke the connection (the server restarted, failed over, or the network dropped) is
    `ConnectionLost`, which says so to the person; the pool then replaces the broken connection."""
    try:
        yield
    except psycopg.Error as exc:
        if cur.raw.connection.broken:
            raise ConnectionLost() from exc
        raise


def _write_lock(url: str) -> threading.RLock:
    with _write_locks_guard:
        return _write_locks.setdefault(url, threading.RLock())


class PostgresStore(Store):
    """A PostgreSQL database shared by processes: a connection pool, transactions, the shared migrations."""

    dialect = "postgresql"
    driver_error = psycopg.Error

    def __init__(
        self,
        url: str | Path,
        *,
        migrations_dir: Path | None = None,
        memory_limit_mib: int = MEMORY_LIMIT_MIB,
        wait_s: float = WAIT_S,
    ) -> None:
        del memory_limit_mib  # DuckDB's setting: the server's own configuration bounds PostgreSQL's memory
        self.url = str(url)
        self.path = redact(self.url)
        self.wait_s = wait_s
        self._pool = ConnectionPool(
            self.url,
            min_size=1,
            max_size=POOL_MAX,
            timeout=wait_s,
            reconnect_timeout=wait_s,
            kwargs={
                "autocommit": True,
                "options": "-c timezone=UTC",
                "connect_timeout": max(2, math.ceil(wait_s)),  # libpq: whole seconds, 2 at least
            },
            open=False,
            check=ConnectionPool.check_connection,
        )
        try:
            self._pool.open(wait=True, timeout=wait_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise DatabaseUnavailable(wait_s) from exc
        except Exception as exc:
            self._pool.close()
            raise StoreError(f"cannot reach the database {self.path}: {exc}") from exc
        self._write_lock = _write_lock(self.url)
        self._local = threading.local()
        self._closed = False
        self._migrations_dir = migrations_dir if migrations_dir is not None else MIGRATIONS_DIR
        self.migrate()

    def __repr__(self) -> str:
        return f"PostgresStore({self.path!r})"

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        if self._closed:
            raise StoreError("the store is closed")
        conn = self._getconn()
        try:
            with conn:  # as the pool's `connection()`: commit or roll back what is open, then give it back
                yield conn
        finally:
            self._pool.putconn(conn)

    @contextmanager
    def _cursor(self) -> Iterator[PgCursor]:
        with self._connection() as conn:
            cur = PgCursor(conn)
            try:
                yield cur
            finally:
                cur.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        joined = getattr(self._local, "write_cursor", None)
        if joined is not None:
            yield joined
            return
        with self._cursor() as cur, _lost_connection(cur):
            try:
                cur.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                yield cur
            finally:
                with suppress(psycopg.Error):
                    cur.raw.execute("ROLLBACK")

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        with self._write_lock:
            joined = getattr(self._local, "write_cursor", None)
            if joined is not None:
                yield joined
                return
            with self._cursor() as cur, _lost_connection(cur):
                self._local.write_cursor = cur
                try:
                    yield from transaction(cur, cur.raw.execute, psycopg.Error)
                finally:
                    self._local.write_cursor = None

    def _getconn(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection of the pool. No connection within `wait_s` while the pool failed to connect (or could not
        grow) is `DatabaseUnavailable`; while every connection is merely in use by this process, the caller waits
        on, up to `BUSY_WAIT_S` in all, as before (then the pool's `PoolTimeout`)."""
        deadline = time.monotonic() + max(BUSY_WAIT_S, self.wait_s)
        while True:
            errors = self._pool.get_stats().get("connections_errors", 0)
            try:
                return self._pool.getconn(timeout=max(0.01, min(self.wait_s, deadline - time.monotonic())))
            except PoolTimeout as exc:
                stats = self._pool.get_stats()
                busy = stats.get("connections_errors", 0) == errors and stats.get("pool_size", 0) >= POOL_MAX
                if not busy:
                    raise DatabaseUnavailable(self.wait_s) from exc
                if time.monotonic() >= deadline:
                    raise

    def migrate(self) -> list[int]:
        """Apply what is missing, holding an advisory lock (on a connection of its own) so that processes starting
        at once apply each migration once."""
        with self._write_lock, self._connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
            try:
                return self._apply_pending(discover_migrations(self._migrations_dir, self.dialect))
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])

    def rewrite(self, wait_s: float = REWRITE_WAIT_S) -> None:
        """VACUUM FULL every table: rows since updated or deleted leave no dead tuple behind."""
        if getattr(self._local, "write_cursor", None) is not None:
            raise StoreError("rewrite() cannot run inside a write() block")
        with self._write_lock, self._connection() as conn:
            conn.execute(f"SET lock_timeout = '{int(wait_s * 1000)}ms'")
            try:
                conn.execute("VACUUM FULL")
            except psycopg.errors.LockNotAvailable as exc:
                raise StoreError(f"tables still in use after {wait_s:g} s; the database was not rewritten") from exc
            finally:
                conn.execute("RESET lock_timeout")
        log.info("Rewrote the tables of %s (VACUUM FULL)", self.path)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()
