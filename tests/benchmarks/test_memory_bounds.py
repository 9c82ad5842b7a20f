"""memory_bounds' measurements in their children: a measurement that runs out of DuckDB's memory is reported as
failed (with DuckDB's words) instead of breaking the benchmark's process pool."""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import memory_bounds
from benchmarks.members_query import synthetic_database


def test_a_copy_out_of_the_stores_memory_is_reported_failed(tmp_path: Path) -> None:
    path = tmp_path / "pw.duckdb"
    shutil.copyfile(synthetic_database(3, 50), path)
    # 1 MiB: DuckDB's COPY needs more; the store raises its OutOfMemory (a StoreError), which the child must catch
    # (raised, it cannot cross the process pool: its constructor's two arguments do not unpickle)
    figures = memory_bounds._copy_child(str(path), 1)
    assert set(figures) == {"failed"}
    assert str(figures["failed"]).startswith("Out of Memory Error")
