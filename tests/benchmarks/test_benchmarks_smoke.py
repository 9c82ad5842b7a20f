"""Smoke test of `python -m benchmarks`: every benchmark runs at a tiny size in its own process and
results.json has the issue's shape. Timing is never asserted here (that is what `make bench` reports)."""

from __future__ import annotations

import json

import pytest

from benchmarks import BENCHMARKS
from benchmarks.__main__ import main
from benchmarks.common import check_shape


@pytest.mark.slow
def test_every_benchmark_runs_tiny_and_writes_the_results_format(tmp_path):
    results = tmp_path / "results.json"
    assert main(["--size", "tiny", "--results", str(results)]) == 0
    data = json.loads(results.read_text(encoding="utf-8"))
    assert set(data) == set(BENCHMARKS)
    check_shape(data)
    for figures in data.values():
        assert figures["size"] == "tiny"
        assert figures["value"] >= 0
        assert figures["target"] > 0
    assert data["sync_rate_utilisation"]["requests_needed"] > 0
    assert data["store_upsert"]["changes_written"] > 0
    assert data["members_query"]["members"] > 0
    assert data["csv_export"]["rows_streamed"] == data["csv_export"]["rows"]
    assert data["click_cost"]["fragment_reruns"] > 0  # table clicks rerun only their fragment
