"""The two stores under test: `backend` runs a test on the DuckDB file and on PostgreSQL.

`pg_cluster` (session-scoped, so one per xdist worker) starts a throwaway PostgreSQL 15 cluster
(tools/pgcluster.py) and a template database with every migration applied; each test's PostgreSQL store is a
fresh database copied from it (`CREATE DATABASE … TEMPLATE`), dropped after the test. Without the binaries a
PostgreSQL test skips locally and FAILS under CI=true (`.ci/run` installs them).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from core.store import transfer
from core.store.database import Store
from tools import pgcluster

BACKENDS = ("duckdb", "postgresql")
TEMPLATE = "pw_template"
_numbers = itertools.count(1)


@dataclass
class PgCluster:
    cluster: pgcluster.Cluster
    _copies: dict[Path, str] = field(default_factory=dict)  # DuckDB file → the database holding its copy

    def url(self, database: str = "postgres") -> str:
        return self.cluster.url(database)

    def fresh_database(self, template: str | None = TEMPLATE) -> str:
        """A new database (a copy of the migrated template, or empty with `template=None`); its URL."""
        name = f"pw_test_{os.getpid()}_{next(_numbers)}"
        clause = f" TEMPLATE {template}" if template else " TEMPLATE template0"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}{clause}")
        return self.url(name)

    def copy_of(self, duckdb_file: Path, scratch: Path) -> str:
        """A new database holding the DuckDB file's data as `migrate-store` copies it (core/store/transfer.py).
        The copy is made once per file in this cluster (from a copy of the file under `scratch`, since the file
        may be opened by another worker meanwhile), into a database that later calls clone."""
        name = self._copies.get(duckdb_file)
        if name is None:
            source = scratch / f"copy-source-{duckdb_file.stem}.duckdb"
            shutil.copyfile(duckdb_file, source)
            url = self.fresh_database()
            transfer.copy_store(source, url)
            name = self._copies[duckdb_file] = url.rsplit("/", 1)[1]
        return self.fresh_database(template=name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def unavailable(why: str) -> None:
    """Skip locally; under CI=true, fail: the PostgreSQL tests must run there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {why}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {why}")


def start_cluster(*, durable: bool = False) -> pgcluster.Cluster:
    """A new throwaway cluster (skips, or fails under CI=true, where PostgreSQL cannot run); `durable`: its
    commits survive a crash of the server (`pgcluster.Cluster.durable`)."""
    if not pgcluster.available():
        unavailable(f"no binaries in {pgcluster.PG_BIN} (apt-get install postgresql)")
    try:
        return pgcluster.Cluster(durable=durable).start()
    except pgcluster.ClusterError as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_cluster()
    pg = PgCluster(cluster)
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        Store(pg.url(TEMPLATE)).close()  # every migration applied once; each test copies the result
        yield pg
    finally:
        cluster.stop()


@dataclass
class Backend:
    """Opens stores of one dialect for a test; closes (and on PostgreSQL drops) them after it."""

    name: str
    tmp_path: Path
    pg: PgCluster | None = None
    _opened: list[Store] = field(default_factory=list)
    _databases: list[str] = field(default_factory=list)

    def target(self, label: str = "pw", *, migrated: bool = True) -> str:
        """A new database's address: a DuckDB file path (created on open) or a PostgreSQL URL (a copy of the
        migrated template, or an empty database with `migrated=False`)."""
        if self.pg is None:
            return str(self.tmp_path / f"{label}.duckdb")
        url = self.pg.fresh_database(TEMPLATE if migrated else None)
        self._databases.append(url)
        return url

    def copy_of(self, duckdb_file: Path) -> str:
        """A new PostgreSQL database holding `duckdb_file`'s data (`PgCluster.copy_of`), dropped after the test."""
        assert self.pg is not None, "a copy of a DuckDB file is a PostgreSQL database"
        url = self.pg.copy_of(duckdb_file, self.tmp_path)
        self._databases.append(url)
        return url

    def open(self, label: str = "pw", *, migrations_dir: Path | None = None) -> Store:
        """A new store: every migration applied, or only those of `migrations_dir` (on an empty database)."""
        store = Store(self.target(label, migrated=migrations_dir is None), migrations_dir=migrations_dir)
        self._opened.append(store)
        return store

    def close(self) -> None:
        for store in self._opened:
            store.close()
        if self.pg is not None:
            for url in self._databases:
                self.pg.drop(url)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    pg = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None
    opened = Backend(request.param, tmp_path, pg)
    yield opened
    opened.close()
