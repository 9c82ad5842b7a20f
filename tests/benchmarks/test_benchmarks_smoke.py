"""Smoke test of `python -m benchmarks`: every benchmark runs at its tiny headline size in its own process and
results.json has the issue's shape; two benchmarks run their whole tiny cost curve (three sizes, each in its
own process), which is fitted and drawn. Every declared curve is checked for a usable declaration. Timing is
never asserted here (that is what `make bench` reports).
The browser benchmarks (Chromium) have their own smoke test, test_browser_benchmarks_smoke.py."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import BENCHMARKS, BROWSER_BENCHMARKS
from benchmarks.__main__ import curve_of, main
from benchmarks.common import SIZES, check_shape
from tools import pgcluster

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURVED_IN_THE_SMOKE_TEST = ("store_upsert", "csv_export")  # the cheapest two: no app, sandbox or browser


def _runnable() -> list[str]:
    """The server benchmarks (the browser ones have their own smoke test); pg_store needs PostgreSQL's binaries
    (a failure in CI, left out locally without them)."""
    names = [name for name in BENCHMARKS if name not in BROWSER_BENCHMARKS]
    if pgcluster.available():
        return names
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: no binaries in {pgcluster.PG_BIN} for pg_store", pytrace=False)
    return [name for name in names if name != "pg_store"]


@pytest.mark.slow
def test_every_benchmark_runs_tiny_and_writes_the_results_format(tmp_path):
    results = tmp_path / "results.json"
    names = _runnable()
    only = [arg for name in names for arg in ("--only", name)]
    argv = ["--size", "tiny", "--headline-only", "--results", str(results), "--plots", str(tmp_path / "plots")]
    assert main([*argv, *only]) == 0
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
    assert data["click_cost"]["fragment_reruns"] > 0  # table clicks rerun only their fragment
    if "pg_store" in data:
        assert data["pg_store"]["members"] > 0
        assert data["pg_store"]["migrate_store_rows"] > 0
    assert not (tmp_path / "plots").exists()  # no curve without its three sizes


@pytest.mark.slow
def test_tiny_cost_curves_are_fitted_and_drawn(tmp_path):
    results, plots = tmp_path / "results.json", tmp_path / "plots"
    only = [arg for name in CURVED_IN_THE_SMOKE_TEST for arg in ("--only", name)]
    assert main(["--size", "tiny", *only, "--results", str(results), "--plots", str(plots)]) == 0
    data = json.loads(results.read_text(encoding="utf-8"))
    check_shape(data)
    for name in CURVED_IN_THE_SMOKE_TEST:
        declared, curve = curve_of(name), data[name]["curve"]
        assert [p["n"] for p in curve["points"]] == list(declared.tiny), name
        assert data[name]["size"] == "tiny"
        assert curve["costs"] == list(declared.costs), name
        assert isinstance(curve["exponent"], float), name  # every cost measured was positive, so it was fitted
        assert (plots / f"{name}.png").read_bytes()[:8] == PNG_MAGIC, name
        assert curve["plot"] == str(plots / f"{name}.png")
    assert data["store_upsert"]["members"] == curve_of("store_upsert").tiny[1]  # the headline size's figures
    assert sorted(p.name for p in plots.iterdir()) == sorted(f"{name}.png" for name in CURVED_IN_THE_SMOKE_TEST)


CURVED = (  # the benchmarks with a cost curve; the others run once at their size
    "sync_rate_utilisation",
    "store_upsert",
    "members_query",
    "csv_export",
    "app_start",
    "access_review",
    "alerts_dispatch",
)


def test_the_curved_benchmarks_declare_three_increasing_sizes_per_mode():
    declared = {name: curve for name in BENCHMARKS if (curve := curve_of(name)) is not None}
    assert sorted(declared) == sorted(CURVED)
    for name, curve in declared.items():
        for size in SIZES:
            sizes = curve.sizes(size)
            assert len(sizes) == 3, (name, size)
            assert 0 < sizes[0] < sizes[1] < sizes[2], (name, size, sizes)
        assert 0 <= curve.headline < 3
        assert curve.costs, name
