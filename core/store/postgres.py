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
- SQL is written once with DuckDB's placeholders (`?`, `$name`, `$1`); `PgCursor` (`postgres_cursor.py`)
  translates them to psycopg's (`postgres_placeholders.py`: `%s`, `%(name)s`) and escapes a literal `%`.
  `register(name, table)` copies an Arrow table (or pandas frame) into a temporary table dropped at the end of
  the transaction, so the same `FROM name` works on both stores.
- `bulk_insert` is one COPY; results come back as Arrow (`sql(...).to_arrow_table()`, `postgres_arrow.py`) or
  pandas (`df()`); an INSERT, UPDATE or DELETE without RETURNING gives its row count as its one row, as on
  DuckDB.
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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from core.store.cursor import Cursor
from core.store.database import (
    MEMORY_LIMIT_MIB,
    MIGRATIONS_DIR,
    REWRITE_WAIT_S,
    WAIT_S,
    Store,
    StoreError,
    discover_migrations,
    transaction,
)
from core.store.errors import ConnectionLost, DatabaseRefused, DatabaseUnavailable
from core.store.postgres_cursor import PgCursor

log = logging.getLogger(__name__)

POOL_MAX = 16  # connections per process: the runner's pool, the UI's sessions and the scheduler share it
BUSY_WAIT_S = 30.0  # every connection in use by this process (the server answers): how long a caller waits in all
_MIGRATION_LOCK = 0x5057_4D49  # advisory lock key ("PWMI"): one process applies the migrations

_write_locks: dict[str, threading.RLock] = {}
_write_locks_guard = threading.Lock()


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


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


def _refusal(url: str, wait_s: float) -> str | None:
    """Why the server refused a connection to `url` (its FATAL message: never the password), or None when it did
    not answer at all. The pool only reports that no connection came."""
    try:
        psycopg.connect(url, connect_timeout=max(2, math.ceil(wait_s))).close()
    except psycopg.OperationalError as exc:
        _, fatal, reason = str(exc).partition("FATAL:")
        return reason.strip().splitlines()[0] if fatal and reason.strip() else None
    return None


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
            refusal = _refusal(self.url, wait_s)
            raise (DatabaseUnavailable(wait_s) if refusal is None else DatabaseRefused(refusal)) from exc
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
