"""What the process's allocators keep beside DuckDB (core/store/memory.py)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from core.store import memory
from core.store.database import Store


def _thp_enabled() -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("THP_enabled:"):
            return line.split()[1]
    pytest.skip("this kernel does not report THP_enabled")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_opening_a_store_turns_transparent_huge_pages_off_for_the_process(tmp_path: Path) -> None:
    # Arrow's allocator asks for huge pages over its arena; with them on, each 4 KiB touched costs 2 MiB
    store = Store(tmp_path / "pw.duckdb")
    try:
        assert _thp_enabled() == "0"
    finally:
        store.close()


def test_release_freed_gives_arrows_free_memory_back() -> None:
    table = pa.table({"a": pa.array([str(i) * 5 for i in range(200_000)])})
    del table
    memory.release_freed()  # must not fail whatever the allocator; mimalloc and glibc both have the call
    assert pa.total_allocated_bytes() < 1 << 20


def _pool_mib(store: Store) -> float:
    with store.read() as cur:
        row = cur.execute("SELECT sum(memory_usage_bytes) / 2 ^ 20 FROM duckdb_memory()").fetchone()
    assert row is not None
    return float(row[0])


def _limit(store: Store) -> str:
    with store.read() as cur:
        row = cur.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def _filled(tmp_path: Path) -> Store:
    """A store whose pool holds ~18 MiB of cached table blocks (a table written, checkpointed, then read)."""
    store = Store(tmp_path / "pw.duckdb", memory_limit_mib=64)
    with store.write() as cur:
        cur.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(1000000)")
    with store.write() as cur:
        cur.execute("CHECKPOINT")
    with store.read() as cur:
        cur.execute("SELECT min(s), max(i) FROM t").fetchall()
    return store


def test_memory_lowered_evicts_the_cache_for_the_block_then_puts_the_limit_back(tmp_path: Path) -> None:
    store = _filled(tmp_path)
    try:
        limit = _limit(store)
        assert _pool_mib(store) > 12
        with store.memory_lowered(4), store.write() as cur:
            lowered = cur.execute("SELECT current_setting('memory_limit')").fetchone()
            pool = cur.execute("SELECT sum(memory_usage_bytes) / 2 ^ 20 FROM duckdb_memory()").fetchone()
            assert cur.execute("SELECT count(*), max(i) FROM t").fetchone() == (1_000_000, 999_999)
        assert lowered is not None
        assert lowered[0] != limit
        assert pool is not None
        assert pool[0] <= 4
        assert _limit(store) == limit
    finally:
        store.close()


def test_a_read_puts_the_limit_back_and_none_is_lowered_while_one_runs(tmp_path: Path) -> None:
    # the limit is process-wide: a read (an export's sort) must not run under a sync write's lower limit
    store = _filled(tmp_path)
    try:
        limit = _limit(store)
        with store.memory_lowered(4):
            seen: list[str] = []
            reader = threading.Thread(target=lambda: seen.append(_limit(store)))
            reader.start()
            reader.join()
            assert seen == [limit]
            with store.write() as cur:  # the read over, the store's limit for the rest of the block
                row = cur.execute("SELECT current_setting('memory_limit')").fetchone()
                assert row is not None
                assert row[0] == limit
        before = _pool_mib(store)
        with store.read() as cur, store.memory_lowered(4):
            row = cur.execute("SELECT current_setting('memory_limit')").fetchone()
            assert row is not None
            assert row[0] == limit
        assert _pool_mib(store) >= before - 1
        assert _limit(store) == limit
    finally:
        store.close()


def test_the_limit_is_not_lowered_under_another_threads_running_write(tmp_path: Path) -> None:
    # lowering DuckDB's process-wide limit under a running query once left it spinning: a lowered block waits
    # for a write in progress on another thread (the write lock) before it lowers anything
    store = _filled(tmp_path)
    try:
        limit = _limit(store)
        writing, release = threading.Event(), threading.Event()

        def write() -> None:
            with store.write() as cur:
                cur.execute("SELECT count(*) FROM t").fetchone()
                writing.set()
                release.wait(10)
                seen.append(cur.execute("SELECT current_setting('memory_limit')").fetchone())

        seen: list[tuple[object, ...] | None] = []
        writer = threading.Thread(target=write)
        writer.start()
        assert writing.wait(10)
        inside, leave = threading.Event(), threading.Event()

        def lowered_block() -> None:
            with store.memory_lowered(4):
                inside.set()
                leave.wait(10)

        lowering = threading.Thread(target=lowered_block)
        lowering.start()
        inside.wait(0.5)
        release.set()
        writer.join(10)
        assert inside.wait(10)
        leave.set()
        lowering.join(10)
        assert seen == [(limit,)]
        assert _limit(store) == limit
    finally:
        store.close()


def _current_limit(cur: object) -> str:
    row = cur.execute("SELECT current_setting('memory_limit')").fetchone()  # type: ignore[attr-defined]
    assert row is not None
    return str(row[0])


def test_reads_rest_under_a_share_of_the_limit_and_a_raised_block_gets_all_of_it(tmp_path: Path) -> None:
    # DuckDB caches what it read up to its limit: outside a raised block (an export's sorts) the pool holds at
    # most the resting limit (5/7 of the store's), which bounds the app with the Members page open
    store = Store(tmp_path / "pw.duckdb", memory_limit_mib=40)
    try:
        with store.write() as cur:
            cur.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(2000000)")
        with store.write() as cur:
            cur.execute("CHECKPOINT")
        with store.read() as cur:
            assert _current_limit(cur) == "28.0 MiB"
            cur.execute("SELECT min(s), max(i) FROM t").fetchall()
        assert _pool_mib(store) <= 28
        with store.memory_raised(), store.read() as cur:
            assert _current_limit(cur) == "40.0 MiB"
            cur.execute("SELECT min(s), max(i) FROM t").fetchall()
            filled = _pool_mib(store)
        assert filled > 28
        assert _limit(store) == "28.0 MiB"
        assert _pool_mib(store) <= 28
    finally:
        store.close()


def test_a_raised_limit_is_lowered_only_once_no_read_runs(tmp_path: Path) -> None:
    # lowering under a running query once left DuckDB spinning: a read in flight when the raised block ends
    # keeps the store's limit, and its end lowers it
    store = _filled(tmp_path)
    try:
        reading, release = threading.Event(), threading.Event()
        seen: list[str] = []

        def read() -> None:
            with store.read() as cur:
                reading.set()
                release.wait(10)
                seen.append(_current_limit(cur))

        with store.memory_raised():
            reader = threading.Thread(target=read)
            reader.start()
            assert reading.wait(10)
        release.set()
        reader.join(10)
        assert seen == ["64.0 MiB"]
        assert _limit(store) == "45.0 MiB"
    finally:
        store.close()
