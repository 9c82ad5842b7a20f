"""Smoke test of `python -m benchmarks`: every benchmark runs at its tiny headline size in its own process (one
test each, so the xdist workers share them) and results.json has the issue's shape; two benchmarks run their
whole tiny cost curve (three sizes, each in its own process) into one results.json, fitted and drawn. Every
declared curve is checked for a usable declaration. Timing is never asserted here (that is what `make bench`
reports). The browser benchmarks (Chromium) have their own smoke test, test_browser_benchmarks_smoke.py."""

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


SERVER_BENCHMARKS = [name for name in BENCHMARKS if name not in BROWSER_BENCHMARKS]  # the browser ones: own test

# what each benchmark's tiny run must have done, beyond results.json's shape
DID_ITS_WORK = {
    "sync_rate_utilisation": lambda f: f["requests_needed"] > 0,
    "store_upsert": lambda f: f["changes_written"] > 0,
    "members_query": lambda f: f["members"] > 0,
    "csv_export": lambda f: f["rows_streamed"] == f["rows"],
    "click_cost": lambda f: f["fragment_reruns"] > 0,  # table clicks rerun only their fragment
    "pg_store": lambda f: f["members"] > 0 and f["migrate_store_rows"] > 0,
}


def _needs_postgresql(name: str) -> None:
    """pg_store needs PostgreSQL's binaries: a failure in CI, skipped locally without them."""
    if name != "pg_store" or pgcluster.available():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: no binaries in {pgcluster.PG_BIN} for pg_store", pytrace=False)
    pytest.skip(f"no PostgreSQL binaries in {pgcluster.PG_BIN} for pg_store")


# One test per benchmark, each its own xdist group (tests/support/scheduling.py), so the workers share them.
@pytest.mark.slow
@pytest.mark.xdist_each_test
@pytest.mark.parametrize("name", SERVER_BENCHMARKS)
def test_each_benchmark_runs_tiny_and_writes_the_results_format(name, tmp_path):
    _needs_postgresql(name)
    results = tmp_path / "results.json"
    argv = ["--size", "tiny", "--headline-only", "--results", str(results), "--plots", str(tmp_path / "plots")]
    assert main([*argv, "--only", name]) == 0
    data = json.loads(results.read_text(encoding="utf-8"))
    assert set(data) == {name}
    check_shape(data)
    figures = data[name]
    assert figures["size"] == "tiny"
    assert figures["value"] >= 0
    assert figures["target"] > 0
    if name in DID_ITS_WORK:
        assert DID_ITS_WORK[name](figures), figures
    assert not (tmp_path / "plots").exists()  # no curve without its three sizes


def test_every_work_check_names_a_server_benchmark():
    assert set(DID_ITS_WORK) <= set(SERVER_BENCHMARKS)


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
    "click_cost",
    "year_of_history",
    "pg_store",
    "browser_latency",
    "concurrent_sessions",
    "memory_bounds",
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
