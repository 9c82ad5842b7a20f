"""Smoke test of `python -m benchmarks`: every benchmark runs at its tiny sizes in its own processes,
results.json has the issue's shape, and each benchmark with a cost curve has its three tiny points, a fitted
exponent and its PNG. Timing is never asserted here (that is what `make bench` reports)."""

from __future__ import annotations

import json

import pytest

from benchmarks import BENCHMARKS
from benchmarks.__main__ import curve_of, main
from benchmarks.common import check_shape

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_every_benchmark_runs_tiny_and_writes_the_results_format(tmp_path):
    results, plots = tmp_path / "results.json", tmp_path / "plots"
    assert main(["--size", "tiny", "--results", str(results), "--plots", str(plots)]) == 0
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
    _assert_curves(data, plots)


def _assert_curves(data, plots):
    with_curve = [name for name in BENCHMARKS if curve_of(name)]
    assert with_curve  # the benchmarks of issue 17 declare one
    for name in with_curve:
        declared, curve = curve_of(name), data[name]["curve"]
        assert [p["n"] for p in curve["points"]] == list(declared.tiny), name
        assert curve["costs"] == list(declared.costs), name
        assert isinstance(curve["exponent"], float), name  # every cost measured was positive, so it was fitted
        assert (plots / f"{name}.png").read_bytes()[:8] == PNG_MAGIC, name
        assert curve["plot"] == str(plots / f"{name}.png")
    assert sorted(p.name for p in plots.iterdir()) == sorted(f"{name}.png" for name in with_curve)
