"""Smoke test of `python -m benchmarks`: every benchmark runs at a tiny size in its own process and
results.json has the issue's shape. Timing is never asserted here (that is what `make bench` reports)."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import BENCHMARKS
from benchmarks.__main__ import main
from benchmarks.common import check_shape
from tools import pgcluster


def _runnable() -> list[str]:
    """Every benchmark; pg_store needs PostgreSQL's binaries (a failure in CI, left out locally without them)."""
    if pgcluster.available():
        return list(BENCHMARKS)
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: no binaries in {pgcluster.PG_BIN} for pg_store", pytrace=False)
    return [name for name in BENCHMARKS if name != "pg_store"]


@pytest.mark.slow
def test_every_benchmark_runs_tiny_and_writes_the_results_format(tmp_path):
    results = tmp_path / "results.json"
    names = _runnable()
    assert main(["--size", "tiny", "--results", str(results), *(a for n in names for a in ("--only", n))]) == 0
    data = json.loads(results.read_text(encoding="utf-8"))
    assert set(data) == set(names)
    check_shape(data)
    for figures in data.values():
        assert figures["size"] == "tiny"
        assert figures["value"] >= 0
        assert figures["target"] > 0
    assert data["sync_rate_utilisation"]["requests_needed"] > 0
    assert data["store_upsert"]["changes_written"] > 0
    assert data["members_query"]["members"] > 0
    assert data["csv_export"]["rows_streamed"] == data["csv_export"]["rows"]
    if "pg_store" in data:
        assert data["pg_store"]["members"] > 0
        assert data["pg_store"]["migrate_store_rows"] > 0
