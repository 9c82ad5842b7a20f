"""What the process's allocators keep beside DuckDB (core/store/memory.py)."""

from __future__ import annotations

import sys
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
