"""Store: the process's one DuckDB database, versioned migrations, and safe units of work.

One root `duckdb.connect(path)` per Store; every unit of work gets its own cursor (a connection to the
same database instance), so no cursor is ever shared between threads.

- `read()` yields a fresh cursor inside a transaction: every statement in the block sees the same
  snapshot (DuckDB MVCC), no lock is taken, and the transaction is rolled back at the end, so a read
  block can never write. Inside a `write()` on the same thread it yields the write cursor instead,
  so the caller sees its own uncommitted changes.
- `write()` takes the write lock (one RLock per database file, shared by every Store of the process on
  that file), BEGINs, COMMITs on success and ROLLBACKs and re-raises on error. A nested `write()` on the
  same thread joins the outer transaction. Note that DuckDB aborts the whole transaction when a
  statement fails, so an inner database error cannot be caught and survived by the outer block.

Migrations are `core/migrations/NNN_name.sql`, applied in order at open time, each in its own
transaction and recorded in `schema_migrations`. `at` is a keyword in DuckDB 2: quote it (`"at"`).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MEMORY = ":memory:"
_MIGRATION_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


class StoreError(RuntimeError):
    """The store cannot be opened or used (bad migration directory, closed store...)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `directory`, in version order; other files are ignored."""
    found: dict[int, Migration] = {}
    for path in sorted(Path(directory).glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"migrations {found[version].path.name} and {path.name} share a version")
        found[version] = Migration(version, match.group(2), path)
    return [found[version] for version in sorted(found)]


def _lock_for(path: str) -> threading.RLock:
    if path == MEMORY:
        return threading.RLock()
    with _path_locks_guard:
        return _path_locks.setdefault(path, threading.RLock())


class Store:
    """One DuckDB database per process: cursor per unit of work, write lock, transactions."""

    def __init__(self, path: str | Path, *, migrations_dir: Path | None = None) -> None:
        self.path = MEMORY if str(path) == MEMORY else str(Path(path).expanduser().resolve())
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path)
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")  # TIMESTAMPTZ values come back in UTC
        self._cursor_lock = threading.Lock()
        self._write_lock = _lock_for(self.path)
        self._local = threading.local()
        self._closed = False
        self._migrations_dir = migrations_dir if migrations_dir is not None else MIGRATIONS_DIR
        self.migrate()

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._cursor_lock:
            if self._closed:
                raise StoreError("the store is closed")
            return self._con.cursor()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor over one consistent snapshot; nothing written through it is kept."""
        joined = getattr(self._local, "write_cursor", None)
        if joined is not None:
            yield joined
            return
        cur = self._cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            yield cur
        finally:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor in a transaction under the write lock; nested calls join the outer transaction."""
        with self._write_lock:
            joined = getattr(self._local, "write_cursor", None)
            if joined is not None:
                yield joined
                return
            cur = self._cursor()
            self._local.write_cursor = cur
            try:
                yield from self._transaction(cur)
            finally:
                self._local.write_cursor = None
                cur.close()

    @staticmethod
    def _transaction(cur: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            raise
        try:
            cur.execute("COMMIT")
        except duckdb.Error:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            raise

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, in order, each in its own transaction; returns their versions.

        The write lock is held throughout, so two Stores of one file in this process cannot race.
        """
        pending = discover_migrations(self._migrations_dir)
        with self._write_lock:
            with self.write() as cur:
                cur.execute(
                    """CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,
                           name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"""
                )
                applied = {row[0] for row in cur.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in pending:
                if migration.version not in applied:
                    self._apply(migration)
        return [migration.version for migration in pending if migration.version not in applied]

    def _apply(self, migration: Migration) -> None:
        sql = migration.path.read_text(encoding="utf-8")
        try:
            with self.write() as cur:
                cur.execute(sql)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [migration.version, migration.name, datetime.now(UTC)],
                )
        except duckdb.Error as exc:
            raise StoreError(f"migration {migration.path.name} failed: {exc}") from exc
        log.info("Applied migration %03d_%s to %s", migration.version, migration.name, self.path)

    def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        with self.read() as cur:
            row = cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the database; later reads and writes raise StoreError. Safe to call twice."""
        with self._cursor_lock:
            if self._closed:
                return
            self._closed = True
            self._con.close()


def bulk_insert(cur: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame | pa.Table) -> int:
    """Insert a whole frame with one `INSERT INTO table BY NAME SELECT * FROM frame`; returns the row count.

    Columns are matched by name (missing ones take their defaults). `table` is an identifier, not a
    parameter, so it must match `[A-Za-z_][A-Za-z0-9_]*`.
    """
    if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
        raise ValueError(f"not a valid table name: {table!r}")
    rows = df.num_rows if isinstance(df, pa.Table) else len(df)
    if rows == 0:
        return 0
    view = f"_bulk_{uuid.uuid4().hex}"
    cur.register(view, df)
    try:
        result = cur.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM "{view}"').fetchone()
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses this too; the real error wins
            cur.unregister(view)
    return int(result[0]) if result else rows
