"""Store: migrations, transactions, nesting, thread safety, bulk inserts."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pyarrow as pa
import pytest

from core.store.cursor import Cursor
from core.store.database import (
    MEMORY_LIMIT_MIB,
    MIGRATIONS_DIR,
    OutOfMemory,
    Store,
    StoreError,
    bulk_insert,
    discover_migrations,
)
from tests.support.backends import Backend

CONSTRAINT = (duckdb.ConstraintException, psycopg.errors.IntegrityError)  # a violated key or check, per dialect


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    """A migrations directory holding only 001_initial.sql and its PostgreSQL version (independent of later
    migrations)."""
    directory = tmp_path / "migrations"
    (directory / "postgresql").mkdir(parents=True)
    shutil.copy(MIGRATIONS_DIR / "001_initial.sql", directory)
    shutil.copy(MIGRATIONS_DIR / "postgresql" / "001_initial.sql", directory / "postgresql")
    return directory


@pytest.fixture
def store(backend: Backend, migrations: Path) -> Store:
    """A store of each dialect with only migration 001 applied (closed after the test)."""
    return backend.open(migrations_dir=migrations)


def _count(store: Store, table: str) -> int:
    with store.read() as cur:
        return int(cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _audit(cur: Cursor, actor: str) -> None:
    cur.execute("INSERT INTO audit_log (actor, action) VALUES (?, 'test')", [actor])


def test_shipped_migrations_apply(backend: Backend) -> None:
    shipped = discover_migrations(dialect=backend.name)
    store = backend.open(migrations_dir=MIGRATIONS_DIR)  # an empty database: every migration runs here
    assert shipped[0].version == 1
    assert store.schema_version() == shipped[-1].version


def test_dialect_overrides_replace_shared_files(tmp_path: Path) -> None:
    (tmp_path / "postgresql").mkdir()
    for name in ("001_one.sql", "002_two.sql"):
        (tmp_path / name).write_text("SELECT 1;")
    (tmp_path / "postgresql" / "002_two.sql").write_text("SELECT 2;")
    assert [m.path for m in discover_migrations(tmp_path)] == [tmp_path / "001_one.sql", tmp_path / "002_two.sql"]
    assert [m.path for m in discover_migrations(tmp_path, "postgresql")] == [
        tmp_path / "001_one.sql",
        tmp_path / "postgresql" / "002_two.sql",
    ]


def test_initial_schema(store: Store) -> None:
    with store.read() as cur:
        tables = {
            row[0]
            for row in cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema IN ('main', 'public')"
            ).fetchall()
        }
        names = cur.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert {
        "integration",
        "tokens",
        "partners",
        "partner_assets",
        "tasks",
        "oauth_flows",
        "audit_log",
        "settings_kv",
        "schema_migrations",
    } <= tables
    assert names == [(1, "initial")]
    assert store.schema_version() == 1


def test_sequences_and_defaults(store: Store) -> None:
    with store.write() as cur:
        first = cur.execute("INSERT INTO tasks (kind) VALUES ('sync') RETURNING id, progress_done").fetchone()
        second = cur.execute("INSERT INTO tasks (kind) VALUES ('sync') RETURNING id").fetchone()
        cur.execute("INSERT INTO partners (bc_id) VALUES ('7312345678901234567')")
        partner = cur.execute("SELECT connection, assets_shared_with_partner FROM partners").fetchone()
    assert first == (1, 0)
    assert second == (2,)
    assert partner == ("none", 0)


def test_integration_is_a_single_row(store: Store) -> None:
    with pytest.raises(CONSTRAINT), store.write() as cur:
        cur.execute("INSERT INTO integration (id) VALUES (2)")
    assert _count(store, "integration") == 0


def test_timestamps_round_trip_in_utc(store: Store) -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.write() as cur:
        cur.execute('INSERT INTO audit_log ("at", actor) VALUES (?, ?)', [at, "a"])
    with store.read() as cur:
        value = cur.execute('SELECT "at" FROM audit_log').fetchone()[0]
    assert value == at
    assert value.utcoffset() == timedelta(0)


def test_migrations_apply_once_and_only_new_ones_on_reopen(backend: Backend, tmp_path: Path, migrations: Path) -> None:
    path = tmp_path / "deep" / "dir" / "pw.duckdb" if backend.name == "duckdb" else backend.target(migrated=False)
    first = Store(path, migrations_dir=migrations)
    assert backend.name != "duckdb" or Path(path).parent.is_dir()
    assert first.schema_version() == 1
    with first.write() as cur:
        _audit(cur, "kept")
    first.close()

    (migrations / "002_extra.sql").write_text("CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1);")
    (migrations / "README.txt").write_text("not a migration")
    second = Store(path, migrations_dir=migrations)
    assert second.schema_version() == 2
    assert second.migrate() == []
    assert _count(second, "extra") == 1
    assert _count(second, "audit_log") == 1
    with second.read() as cur:
        assert cur.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall() == [
            (1, "initial"),
            (2, "extra"),
        ]
    second.close()

    third = Store(path, migrations_dir=migrations)
    assert _count(third, "extra") == 1
    third.close()


def test_concurrent_opens_of_one_database_migrate_once(backend: Backend, migrations: Path) -> None:
    path = backend.target(migrated=False)
    opened: list[Store] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        barrier.wait()
        try:
            opened.append(Store(path, migrations_dir=migrations))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert [store.schema_version() for store in opened] == [1] * 4
    assert _count(opened[0], "schema_migrations") == 1
    for store in opened:
        store.close()


def test_failing_migration_leaves_nothing(backend: Backend, migrations: Path) -> None:
    (migrations / "002_broken.sql").write_text("CREATE TABLE half (x INTEGER);\nCREATE TABLE oops (;")
    target = backend.target(migrated=False)
    with pytest.raises(StoreError, match=r"002_broken\.sql"):
        Store(target, migrations_dir=migrations)
    (migrations / "002_broken.sql").unlink()
    store = Store(target, migrations_dir=migrations)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half'").fetchone() == (
            0,
        )
    store.close()


def test_failed_migration_is_retried_after_fix(backend: Backend, migrations: Path) -> None:
    path = backend.target(migrated=False)
    broken = migrations / "002_fix.sql"
    broken.write_text("CREATE TABLE half (x INTEGER);\nCREATE TABLE oops (;")
    with pytest.raises(StoreError):
        Store(path, migrations_dir=migrations)
    broken.write_text("CREATE TABLE half (x INTEGER);")
    store = Store(path, migrations_dir=migrations)
    assert store.schema_version() == 2
    assert _count(store, "half") == 0
    store.close()


def test_duplicate_migration_versions_rejected(migrations: Path) -> None:
    (migrations / "001_again.sql").write_text("SELECT 1;")
    with pytest.raises(StoreError, match="share a version"):
        discover_migrations(migrations)


def test_write_commits(store: Store) -> None:
    with store.write() as cur:
        _audit(cur, "a")
    assert _count(store, "audit_log") == 1


def test_write_rolls_back_on_exception(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.write() as cur:
        _audit(cur, "a")
        cur.execute("INSERT INTO settings_kv (key, value) VALUES ('k', 'v')")
        raise RuntimeError("boom")
    assert _count(store, "audit_log") == 0
    assert _count(store, "settings_kv") == 0


def test_write_rolls_back_on_database_error(store: Store) -> None:
    with pytest.raises(CONSTRAINT), store.write() as cur:
        cur.execute("INSERT INTO settings_kv (key) VALUES ('k')")
        cur.execute("INSERT INTO settings_kv (key) VALUES ('k')")
    assert _count(store, "settings_kv") == 0
    with store.write() as cur:  # the store is still usable
        cur.execute("INSERT INTO settings_kv (key) VALUES ('k')")
    assert _count(store, "settings_kv") == 1


def test_nested_write_joins_outer_transaction(store: Store) -> None:
    with store.write() as outer:
        _audit(outer, "outer")
        with store.write() as inner:
            assert inner is outer
            _audit(inner, "inner")
    assert _count(store, "audit_log") == 2


def test_nested_write_rolled_back_with_outer(store: Store) -> None:
    with pytest.raises(ValueError, match="late"), store.write() as outer:
        with store.write() as inner:
            _audit(inner, "inner")
        _audit(outer, "outer")
        raise ValueError("late")
    assert _count(store, "audit_log") == 0


def test_read_inside_write_sees_own_changes_others_do_not(store: Store) -> None:
    seen_elsewhere: list[int] = []
    with store.write() as cur:
        _audit(cur, "a")
        with store.read() as reader:
            assert reader.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
        thread = threading.Thread(target=lambda: seen_elsewhere.append(_count(store, "audit_log")))
        thread.start()
        thread.join()
    assert seen_elsewhere == [0]
    assert _count(store, "audit_log") == 1


def test_read_cannot_write(store: Store) -> None:
    with store.read() as cur:
        _audit(cur, "sneaky")
    assert _count(store, "audit_log") == 0


def test_read_cursor_is_fresh_and_closed(store: Store) -> None:
    with store.read() as first:
        pass
    with store.read() as second:
        assert second is not first
    with pytest.raises(Exception, match=r"(?i)closed"):
        first.execute("SELECT 1")


def test_concurrent_readers_and_writers(store: Store) -> None:
    """16 threads: writers move amounts between two accounts; readers must always see the same total."""
    with store.write() as cur:
        cur.execute("CREATE TABLE accounts (name VARCHAR PRIMARY KEY, amount INTEGER)")
        cur.execute("INSERT INTO accounts VALUES ('a', 1000), ('b', 1000)")
    errors: list[BaseException] = []
    totals: list[int] = []
    rounds = 40
    barrier = threading.Barrier(16)

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(rounds):
            with store.write() as cur:
                cur.execute("UPDATE accounts SET amount = amount - 1 WHERE name = 'a'")
                cur.execute("INSERT INTO audit_log (actor, action) VALUES (?, ?)", [f"w{n}", str(i)])
                cur.execute("UPDATE accounts SET amount = amount + 1 WHERE name = 'b'")

    def reader() -> None:
        barrier.wait()
        for _ in range(rounds):
            with store.read() as cur:
                a = cur.execute("SELECT amount FROM accounts WHERE name = 'a'").fetchone()[0]
                logged = cur.execute("SELECT count(*) FROM audit_log").fetchone()[0]
                b = cur.execute("SELECT amount FROM accounts WHERE name = 'b'").fetchone()[0]
            totals.append(a + b)
            assert 1000 - a == logged == b - 1000

    def run(target: Callable[..., None], *args: int) -> None:
        try:
            target(*args)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(writer, n)) for n in range(8)]
    threads += [threading.Thread(target=run, args=(reader,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(totals) == 8 * rounds
    assert set(totals) == {2000}
    assert _count(store, "audit_log") == 8 * rounds
    with store.read() as cur:
        assert cur.execute("SELECT amount FROM accounts ORDER BY name").fetchall() == [
            (1000 - 8 * rounds,),
            (1000 + 8 * rounds,),
        ]


def test_bulk_insert_100k_rows_from_dataframe(store: Store) -> None:
    n = 100_000
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "asset_type": ["ADVERTISER"] * n,  # columns in another order than the table: matched by name
            "asset_id": [str(7_000_000_000_000_000_000 + i) for i in range(n)],
            "partner_bc_id": ["7312345678901234567"] * n,
            "share_type": ["SHARING"] * n,
            "synced_at": [now] * n,
        }
    )
    with store.write() as cur:
        assert bulk_insert(cur, "partner_assets", frame) == n
    with store.read() as cur:
        count, distinct, largest, synced = cur.execute(
            "SELECT count(*), count(DISTINCT asset_id), max(asset_id), min(synced_at) FROM partner_assets"
        ).fetchone()
    assert (count, distinct) == (n, n)
    assert largest == str(7_000_000_000_000_000_000 + n - 1)
    assert synced == now


def test_bulk_insert_arrow_table_and_defaults(store: Store) -> None:
    table = pa.table({"bc_id": ["1", "2"], "name": ["One", "Two"]})
    with store.write() as cur:
        assert bulk_insert(cur, "partners", table) == 2
    with store.read() as cur:
        assert cur.execute("SELECT bc_id, connection FROM partners ORDER BY 1").fetchall() == [
            ("1", "none"),
            ("2", "none"),
        ]


def test_bulk_insert_empty_frame(store: Store) -> None:
    with store.write() as cur:
        assert bulk_insert(cur, "partners", pd.DataFrame({"bc_id": []})) == 0
    assert _count(store, "partners") == 0


def test_bulk_insert_rolls_back_with_transaction(store: Store) -> None:
    frame = pd.DataFrame({"bc_id": ["1", "1"]})  # duplicate primary key
    with pytest.raises(CONSTRAINT), store.write() as cur:
        bulk_insert(cur, "partners", pd.DataFrame({"bc_id": ["0"]}))
        bulk_insert(cur, "partners", frame)
    assert _count(store, "partners") == 0


@pytest.mark.parametrize("name", ["partners; DROP TABLE tokens", "a-b", "", "1abc", 'x"y', "main.partners"])
def test_bulk_insert_validates_table_name(store: Store, name: str) -> None:
    with pytest.raises(ValueError, match="table name"), store.write() as cur:
        bulk_insert(cur, name, pd.DataFrame({"bc_id": ["1"]}))
    assert _count(store, "tokens") == 0


def test_duckdb_memory_stores_are_independent(migrations: Path) -> None:
    one, two = Store(":memory:", migrations_dir=migrations), Store(":memory:", migrations_dir=migrations)
    with one.write() as cur:
        _audit(cur, "one")
    assert (_count(one, "audit_log"), _count(two, "audit_log")) == (1, 0)
    one.close()
    two.close()


def test_closed_store_refuses_work(backend: Backend, migrations: Path) -> None:
    store = backend.open(migrations_dir=migrations)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"), store.read():
        pass
    with pytest.raises(StoreError, match="closed"), store.write():
        pass


def test_duckdb_close_checkpoints_so_no_wal_is_left(tmp_path: Path, migrations: Path) -> None:
    store = Store(tmp_path / "pw.duckdb", migrations_dir=migrations)
    with store.write() as cur:
        _audit(cur, "before close")
    with store.read():  # a reader's connection (closed with its block) must not keep the WAL alive
        pass
    assert (tmp_path / "pw.duckdb.wal").exists()
    store.close()
    assert not (tmp_path / "pw.duckdb.wal").exists()


def test_duckdb_rewrite_keeps_data_and_sequences_and_waits_for_reads(tmp_path: Path, migrations: Path) -> None:
    store = Store(tmp_path / "pw.duckdb", migrations_dir=migrations)
    with store.write() as cur:
        _audit(cur, "one")
        cur.execute("DELETE FROM audit_log")
        _audit(cur, "two")
    reading, release = threading.Event(), threading.Event()

    def long_read() -> None:
        with store.read() as cur:
            cur.execute("SELECT 1").fetchall()
            reading.set()
            release.wait(10)

    reader = threading.Thread(target=long_read)
    reader.start()
    reading.wait(10)
    with pytest.raises(StoreError, match="reads still running"):
        store.rewrite(wait_s=0.2)
    release.set()
    reader.join(10)
    store.rewrite()
    with store.write() as cur:
        _audit(cur, "three")
    with store.read() as cur:
        rows = cur.execute("SELECT id, actor FROM audit_log ORDER BY id").fetchall()
    assert rows == [(2, "two"), (3, "three")]  # the sequence went on from where it was
    assert store.schema_version() == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pw.")) == ["pw.duckdb", "pw.duckdb.wal"]
    store.close()


def _memory_settings(store: Store) -> tuple[str, str]:
    """The memory limit a block that asks for the store's runs under (`memory_raised`), and the spill directory."""
    with store.memory_raised(), store.read() as cur:
        row = cur.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    assert row is not None
    return row[0], row[1]


def _resting_limit(store: Store) -> str:
    with store.read() as cur:
        row = cur.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def test_the_database_memory_is_limited_and_spills_beside_the_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "data" / "pw.duckdb", memory_limit_mib=96)
    try:
        assert _memory_settings(store) == ("96.0 MiB", str(tmp_path / "data" / "pw.duckdb.tmp"))
        assert _resting_limit(store) == "68.0 MiB"  # 5/7 of it outside a raised block (core/store/pool.py)
        store.rewrite()  # the fresh connection keeps them
        assert _memory_settings(store) == ("96.0 MiB", str(tmp_path / "data" / "pw.duckdb.tmp"))
        assert _resting_limit(store) == "68.0 MiB"
    finally:
        store.close()


BEYOND_THE_LIMIT = "SELECT length(string_agg(repeat('x', 100), '')) FROM range(2000000)"  # one 200 MB value


def test_running_out_of_the_memory_limit_is_a_store_error_that_names_the_setting(tmp_path: Path) -> None:
    store = Store(tmp_path / "pw.duckdb", memory_limit_mib=24)
    try:
        with pytest.raises(OutOfMemory, match=r"24 MiB.*PW_DUCKDB_MEMORY_MIB"), store.read() as cur:
            cur.execute(BEYOND_THE_LIMIT).fetchall()
        with pytest.raises(OutOfMemory, match="nothing of it was saved"), store.write() as cur:
            cur.execute("CREATE TABLE kept (x INTEGER)")
            cur.execute(BEYOND_THE_LIMIT).fetchall()
        with store.read() as cur:  # the write was rolled back, and the store still works
            assert cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'kept'").fetchone() == (0,)
    finally:
        store.close()


def test_the_memory_limit_comes_from_the_settings(tmp_path: Path) -> None:
    from core import services as core_services
    from tests.support.services import make_services

    svc = make_services(tmp_path, PW_DUCKDB_MEMORY_MIB="100")
    try:
        assert svc.settings.duckdb_memory_mib == 100
        assert _memory_settings(svc.store)[0] == "100.0 MiB"
    finally:
        core_services.install(None)
        svc.close()
    from core.config.settings import DUCKDB_MEMORY_MIB

    assert DUCKDB_MEMORY_MIB == MEMORY_LIMIT_MIB  # the settings' default is the store's
    default = make_services(tmp_path / "default")
    try:
        assert _memory_settings(default.store)[0] == f"{MEMORY_LIMIT_MIB}.0 MiB"
    finally:
        core_services.install(None)
        default.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_rewrite_keeps_data_and_sequences(backend: Backend, migrations: Path) -> None:
    store = backend.open(migrations_dir=migrations)
    with store.write() as cur:
        _audit(cur, "one")
        cur.execute("DELETE FROM audit_log")
        _audit(cur, "two")
        before = cur.execute("SELECT pg_relation_filenode('audit_log')").fetchone()
    store.rewrite()
    with store.write() as cur:
        _audit(cur, "three")
    with store.read() as cur:
        assert cur.execute("SELECT id, actor FROM audit_log ORDER BY id").fetchall() == [(2, "two"), (3, "three")]
        after = cur.execute("SELECT pg_relation_filenode('audit_log')").fetchone()
    assert after != before  # the table was copied into a fresh file: the deleted row's old file is gone


def test_placeholders_and_percent_signs_reach_postgresql_intact(backend: Backend, migrations: Path) -> None:
    store = backend.open(migrations_dir=migrations)
    with store.write() as cur:
        cur.execute("INSERT INTO settings_kv (key, value) VALUES (?, ?)", ["a?b", "50% off"])
        cur.execute("INSERT INTO settings_kv (key, value) VALUES ($key, $value)", {"key": "$x", "value": "'q'"})
    with store.read() as cur:
        assert cur.execute(
            "SELECT key FROM settings_kv WHERE value LIKE '%\\%%' ESCAPE '\\' AND key = ANY(?)", [["a?b", "$x"]]
        ).fetchall() == [("a?b",)]
        assert cur.execute("SELECT value FROM settings_kv WHERE key = '$x' AND ? = 1", [1]).fetchall() == [("'q'",)]
