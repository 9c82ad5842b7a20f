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


def test_the_copy_reference_is_not_the_products_measurement() -> None:
    # the shape of a 5M run: DuckDB's COPY runs out of the store's limit (its figures are the reference only)
    # and grows RSS far past the bound at DuckDB's default limit; the product's own measurements are within it
    measured = {
        "exports": {
            "5000000_rows": {
                "store_limit": {
                    "export": {"s": 9.2, "rss_growth_mib": 143.8},
                    "duckdb_copy": {"failed": "Out of Memory Error: failed to allocate data of size 64.0 MiB"},
                },
                "default_limit": {"export": {"s": 5.9, "rss_growth_mib": 655.4}},
            }
        },
        "sync": {"store_limit": {"first_sync": {"rss_growth_mib": 147.4}}},
    }
    found = list(memory_bounds._under_store_limit(measured))
    assert found == [{"s": 9.2, "rss_growth_mib": 143.8}, {"rss_growth_mib": 147.4}]
