"""Store: the process's one database, versioned migrations, and safe units of work.

`Store(target)` opens the embedded DuckDB file (a path, the default) or, given a `postgresql://` URL
(`PW_DATABASE_URL`), the PostgreSQL database several processes share (`core/store/postgres.py`). Both have the
same surface: `dialect` ("duckdb" or "postgresql"), `read()` and `write()` yielding a `Cursor`
(core/store/cursor.py), `migrate()`, `schema_version()`, `rewrite()`, `close()`; `bulk_insert` works on either's
cursor (COPY on PostgreSQL). What follows describes the DuckDB store; see postgres.py for the differences.

One root `duckdb.connect(path)` per Store; each unit of work gets its own cursor, never shared between threads.

- `read()` yields a fresh cursor inside a transaction: every statement in the block sees the same
  snapshot (DuckDB MVCC), no lock is taken, and the transaction is rolled back at the end, so a read
  block can never write. Inside a `write()` on the same thread it yields the write cursor instead,
  so the caller sees its own uncommitted changes.
- `write()` takes the write lock (one RLock per database file, shared by every Store of the process on
  that file), BEGINs, COMMITs on success and ROLLBACKs and re-raises on error. A nested `write()` on the
  same thread joins the outer transaction. Note that DuckDB aborts the whole transaction when a
  statement fails, so an inner database error cannot be caught and survived by the outer block.

`rewrite()` copies the database into a fresh file and swaps it in (key rotation: DuckDB keeps freed
blocks, old ciphertexts included, in the file's free space, and a CHECKPOINT does not overwrite them).
`close()` checkpoints first, so a cleanly stopped process leaves no WAL behind.

Memory is bounded by design: the database instance gets a `memory_limit` (`memory_limit_mib`, default
`MEMORY_LIMIT_MIB`) and spills to `temp_directory` (`<database file>.tmp`, beside it under the data directory)
what does not fit, so a sort of a million export lines or the scan of a large table costs disk, not resident
memory that grows with the data. DuckDB's own default is 80% of the machine's RAM. Outside an export's sorts
(`memory_raised`) DuckDB rests under a share of that limit, which also bounds what its pool caches
(`core/store/pool.py`). Opening a store also bounds what the allocators beside DuckDB keep (`core/store/memory.py`).

Migrations are `core/store/migrations/NNN_name.sql`, applied in order at open time, each in its own
transaction and recorded in `schema_migrations`. Where a dialect's SQL must differ, a file of the same name in
`migrations/<dialect>/` replaces it for that dialect. `at` is a keyword in DuckDB 2: quote it (`"at"`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb

from core.store.bulk import bulk_insert as bulk_insert
from core.store.bulk import dialect_of as dialect_of
from core.store.cursor import Cursor
from core.store.errors import OutOfMemory as OutOfMemory
from core.store.errors import StoreError as StoreError
from core.store.memory import bound_process_memory
from core.store.pool import PoolLimit

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MEMORY = ":memory:"
_MIGRATION_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
MEMORY_LIMIT_MIB = 112  # DuckDB's buffer pool (sorts, hash tables, cached blocks); figures in benchmarks/RESULTS.md
REWRITE_WAIT_S = 30.0  # how long rewrite() waits for the reads in flight to end
CLOSE_WAIT_S = 10.0  # how long close() waits for a write in progress to commit
WAIT_S = 5.0  # PostgreSQL: how long opening the store or a unit of work waits for the server before giving up

C = TypeVar("C")

_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover_migrations(directory: Path = MIGRATIONS_DIR, dialect: str = "duckdb") -> list[Migration]:
    """The migration files of `directory`, in version order; other files are ignored. A file of the same name in
    `directory/<dialect>/` replaces the shared one for that dialect."""
    found: dict[int, Migration] = {}
    overrides = Path(directory) / dialect
    for path in sorted(Path(directory).glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"migrations {found[version].path.name} and {path.name} share a version")
        override = overrides / path.name
        found[version] = Migration(version, match.group(2), override if override.is_file() else path)
    return [found[version] for version in sorted(found)]


def _lock_for(path: str) -> threading.RLock:
    if path == MEMORY:
        return threading.RLock()
    with _path_locks_guard:
        return _path_locks.setdefault(path, threading.RLock())


def transaction(cur: C, execute: Callable[[str], object], error: type[Exception]) -> Iterator[C]:
    """BEGIN; yield `cur`; COMMIT, or ROLLBACK and re-raise (`error`: the driver's base error, for the ROLLBACK of
    a failed COMMIT and for a ROLLBACK that fails itself)."""
    execute("BEGIN TRANSACTION")
    try:
        yield cur
    except BaseException:
        with suppress(error):
            execute("ROLLBACK")
        raise
    try:
        execute("COMMIT")
    except error:
        with suppress(error):
            execute("ROLLBACK")
        raise


def is_database_url(target: str | Path) -> bool:
    """Whether `target` names a PostgreSQL database (`postgresql://…`) rather than a DuckDB file."""
    return str(target).startswith(("postgresql://", "postgres://"))


class Store:
    """The process's database: `Store(path)` is the DuckDB file, `Store("postgresql://…")` a PostgreSQL server.

    Constructing `Store` returns the implementation the target names; the methods below are what both provide.
    """

    dialect: str
    driver_error: type[Exception]  # the base class of the driver's errors

    def __new__(
        cls,
        target: str | Path,
        *,
        migrations_dir: Path | None = None,
        memory_limit_mib: int = MEMORY_LIMIT_MIB,
        wait_s: float = WAIT_S,
    ) -> Store:
        if cls is Store:
            if is_database_url(target):
                from core.store.postgres import PostgresStore

                return object.__new__(PostgresStore)
            return object.__new__(DuckDBStore)
        return object.__new__(cls)

    def read(self) -> AbstractContextManager[Cursor]:
        """A cursor over one consistent snapshot; nothing written through it is kept."""
        raise NotImplementedError

    def write(self) -> AbstractContextManager[Cursor]:
        """A cursor in a transaction; nested calls on the same thread join the outer transaction."""
        raise NotImplementedError

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, in order; returns their versions."""
        raise NotImplementedError

    def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        with self.read() as cur:
            row = cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0]) if row else 0

    def _apply_pending(self, pending: list[Migration]) -> list[int]:
        """Apply those of `pending` not recorded in `schema_migrations` yet (the caller keeps other migrators out)."""
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
        """One migration and its `schema_migrations` row, in one transaction."""
        sql = migration.path.read_text(encoding="utf-8")
        try:
            with self.write() as cur:
                cur.execute(sql)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [migration.version, migration.name, datetime.now(UTC)],
                )
        except self.driver_error as exc:
            raise StoreError(f"migration {migration.path.name} failed: {exc}") from exc
        log.info("Applied migration %03d_%s to %s", migration.version, migration.name, self)

    def rewrite(self, wait_s: float = REWRITE_WAIT_S) -> None:
        """Leave no freed copy of rewritten rows behind (key rotation)."""
        raise NotImplementedError

    def memory_lowered(self, limit_mib: int) -> AbstractContextManager[None]:
        """A block of work (a sync's group write) run under a lower memory limit, when the store has one."""
        del limit_mib
        return nullcontext()

    def memory_raised(self) -> AbstractContextManager[None]:
        """A block of work (an export's sorts) run under the store's whole memory limit, when the store has one."""
        return nullcontext()

    def close(self) -> None:
        """Release the database; later reads and writes raise StoreError. Safe to call twice."""
        raise NotImplementedError


class DuckDBStore(Store):
    """One DuckDB database per process: cursor per unit of work, write lock, transactions."""

    dialect = "duckdb"
    driver_error = duckdb.Error

    def __init__(
        self,
        path: str | Path,
        *,
        migrations_dir: Path | None = None,
        memory_limit_mib: int = MEMORY_LIMIT_MIB,
        wait_s: float = WAIT_S,
    ) -> None:
        del wait_s  # PostgreSQL's: a file of this process is never out of reach
        self.path = MEMORY if str(path) == MEMORY else str(Path(path).expanduser().resolve())
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.memory_limit_mib = memory_limit_mib
        bound_process_memory()  # what Arrow's allocator holds beside DuckDB's limit (core/store/memory.py)
        self._con = self._connect()
        self._cursor_lock = threading.Lock()
        self._write_lock = _lock_for(self.path)
        self._local = threading.local()
        self._closed = False
        self._gate = threading.Condition()  # rewrite() waits here for reads in flight and holds new ones
        self._readers = 0
        self._paused = False
        self._pool = PoolLimit(memory_limit_mib, self._write_lock, self._set_limit)  # core/store/pool.py
        self._migrations_dir = migrations_dir if migrations_dir is not None else MIGRATIONS_DIR
        self.migrate()
        with self._gate:
            self._apply_limit()  # the resting limit, migrations done

    def __repr__(self) -> str:
        return f"DuckDBStore({self.path!r})"

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """The root connection, with the memory limit and (for a file) the spill directory beside the file."""
        config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": f"{self.memory_limit_mib}MiB"}
        if self.path != MEMORY:
            config["temp_directory"] = self.path + ".tmp"
        con = duckdb.connect(self.path, config=config)
        con.execute("SET GLOBAL TimeZone = 'UTC'")  # TIMESTAMPTZ values come back in UTC
        return con

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
        with self._gate:
            self._gate.wait_for(lambda: not self._paused)
            self._readers += 1
            self._apply_limit()  # a write under a lowered limit (`memory_lowered`): this read gets the store's
        try:
            cur = self._cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                yield cur
            except duckdb.OutOfMemoryException as exc:
                raise OutOfMemory(self.memory_limit_mib, writing=False) from exc
            finally:
                with suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                cur.close()
        finally:
            with self._gate:
                self._readers -= 1
                self._apply_limit()  # a lowering put off while this read ran
                self._gate.notify_all()

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
                yield from transaction(cur, cur.execute, duckdb.Error)
            except duckdb.OutOfMemoryException as exc:
                raise OutOfMemory(self.memory_limit_mib, writing=True) from exc
            finally:
                self._local.write_cursor = None
                cur.close()

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet, in order, each in its own transaction; returns their versions.

        The write lock is held throughout, so two Stores of one file in this process cannot race.
        """
        with self._write_lock:
            return self._apply_pending(discover_migrations(self._migrations_dir, self.dialect))

    def rewrite(self, wait_s: float = REWRITE_WAIT_S) -> None:
        """Copy the whole database into a fresh file and atomically replace the old file with it.

        Nothing the old file held in its free blocks (rows since updated or deleted) survives. Writes wait
        on the write lock; new reads wait until the swap is done; reads in flight are waited for (StoreError
        after `wait_s`). In-memory databases are left as they are.
        """
        if self.path == MEMORY:
            return
        if getattr(self._local, "write_cursor", None) is not None:
            raise StoreError("rewrite() cannot run inside a write() block")
        fresh = self.path + ".rewrite"
        with self.memory_raised(), self._write_lock, self._reads_paused(wait_s):
            for leftover in (fresh, fresh + ".wal"):
                Path(leftover).unlink(missing_ok=True)
            with self._cursor_lock:
                if self._closed:
                    raise StoreError("the store is closed")
                self._con.execute("CHECKPOINT")
                current = self._con.execute("SELECT current_database()").fetchone()
                assert current is not None  # a SELECT without FROM returns one row
                name = current[0]
                self._con.execute("ATTACH ? AS pw_rewrite", [fresh])
                try:
                    self._con.execute(f'COPY FROM DATABASE "{name}" TO pw_rewrite')
                finally:
                    self._con.execute("DETACH pw_rewrite")
                self._con.close()
                Path(self.path + ".wal").unlink(missing_ok=True)  # checkpointed: its content is in `fresh`
                os.replace(fresh, self.path)
                self._con = self._connect()
        log.info("Rewrote %s into a fresh file", self.path)

    @contextmanager
    def _reads_paused(self, wait_s: float) -> Iterator[None]:
        try:
            with self._gate:
                self._paused = True
                self._apply_limit()
                if not self._gate.wait_for(lambda: self._readers == 0, timeout=wait_s):
                    raise StoreError(f"reads still running after {wait_s:g} s; the database was not rewritten")
            yield
        finally:
            with self._gate:
                self._paused = False
                self._apply_limit()
                self._gate.notify_all()

    @contextmanager
    def memory_lowered(self, limit_mib: int) -> Iterator[None]:
        """DuckDB's memory limit lowered to `limit_mib` for the block, whenever no read runs.

        DuckDB fills its pool up to the limit with the blocks it reads and writes; a sync's group write needs far
        less than an export's sort. The limit is process-wide and lowering it under a running query once left
        DuckDB spinning (benchmarks/RESULTS.md), so the block holds the write lock (no other write runs) and a read
        puts the resting limit back for the rest of the block; with more pinned than `limit_mib`, it stays.
        """
        with self._write_lock:
            with self._gate:
                self._pool.low_mib = limit_mib
                self._apply_limit()
            try:
                yield
            finally:
                with self._gate:
                    self._pool.low_mib = None
                    self._apply_limit()

    @contextmanager
    def memory_raised(self) -> Iterator[None]:
        """DuckDB's memory limit at the store's for the block; otherwise page views and the pool's cache run under
        the resting limit, a share of it (core/store/pool.py). Raised at once; lowered when no read runs."""
        with self._gate:
            self._pool.raised += 1
            self._apply_limit()
        try:
            yield
        finally:
            with self._gate:
                self._pool.raised -= 1
                self._apply_limit()

    def _apply_limit(self) -> None:
        """Under the gate: the limit for what runs now (`PoolLimit.wanted`)."""
        self._pool.apply(idle=not self._readers and not self._paused)

    def _set_limit(self, limit_mib: int) -> bool:
        with self._cursor_lock:
            if self._closed:
                return False
            try:
                self._con.execute(f"SET memory_limit = '{int(limit_mib)}MiB'")
            except duckdb.OutOfMemoryException:  # more is pinned than that: it evicted what it could
                return False
        return True

    def close(self) -> None:
        """Checkpoint and close the database; later reads and writes raise StoreError. Safe to call twice.

        A write in progress is given `CLOSE_WAIT_S` to commit first (a sync writes a partner at a time).
        """
        acquired = self._write_lock.acquire(timeout=CLOSE_WAIT_S)
        try:
            with self._cursor_lock:
                if self._closed:
                    return
                self._closed = True
                with suppress(duckdb.Error):
                    self._con.execute("CHECKPOINT")
                self._con.close()
        finally:
            if acquired:
                self._write_lock.release()
