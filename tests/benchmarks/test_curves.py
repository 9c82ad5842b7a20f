"""The cost-curve layer (`benchmarks/curves.py` and the runner): the fitted exponent, the plot, the table and
the runner's two kinds of benchmark (a declared curve runs once per size, a module without one runs once at
its single size). The benchmarks here are stand-ins whose costs are exact functions of n, run in this
process; no timing is measured or asserted."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from benchmarks import __main__ as runner
from benchmarks import curves
from benchmarks.common import check_shape
from benchmarks.curves import Curve

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SQUARE = Curve("rows", full=(100, 1_000, 10_000), quick=(10, 20, 40), tiny=(2, 4, 8), costs=("value", "half_s"))


@pytest.mark.parametrize(
    ("costs", "slope"),
    [([3.0, 3.0, 3.0], 0.0), ([0.1, 1.0, 10.0], 1.0), ([1.0, 100.0, 10_000.0], 2.0), ([1.0, 2.0, 4.0], 0.301)],
)
def test_exponent_is_the_slope_of_log_cost_against_log_n(costs, slope):
    assert curves.exponent([10, 100, 1_000], costs) == pytest.approx(slope, abs=0.001)


@pytest.mark.parametrize(
    ("slope", "reads"),
    [(None, "no fit"), (0.5, "sublinear"), (0.85, "about linear"), (1.1, "about linear"), (1.2, "faster than linear")],
)
def test_growth_reads_the_exponent(slope, reads):
    assert curves.growth(slope) == reads


def test_exponent_is_a_least_squares_fit_of_noisy_points():
    # log10 costs 0, 1.2, 1.8 over log10 n 1, 2, 3: slope (1.8 - 0) / 2 by least squares = 0.9
    assert curves.exponent([10, 100, 1_000], [1.0, 10**1.2, 10**1.8]) == pytest.approx(0.9, abs=0.001)


@pytest.mark.parametrize(("ns", "costs"), [([10, 100, 1000], [1.0, 0.0, 2.0]), ([10, 10, 10], [1.0, 2.0, 3.0])])
def test_no_exponent_without_positive_costs_or_varying_n(ns, costs):
    assert curves.exponent(ns, costs) is None


def _square_module(calls: list) -> ModuleType:
    module = ModuleType("benchmarks.stand_in_curve")

    def run_at(n: int) -> dict:
        calls.append(n)
        return {"value": n * n / 1e6, "unit": "s", "target": 1.0, "half_s": n / 2, "load_average": 0.5}

    module.CURVE = SQUARE  # type: ignore[attr-defined]
    module.run_at = run_at  # type: ignore[attr-defined]
    return module


def _single_module(calls: list) -> ModuleType:
    module = ModuleType("benchmarks.stand_in_single")

    def run(size: str) -> dict:
        calls.append(size)
        return {"value": 1.5, "unit": "s", "target": 2.0}

    module.run = run  # type: ignore[attr-defined]
    return module


@pytest.fixture
def in_process(monkeypatch):
    """Stand-in benchmark modules, run in this process instead of a child."""
    calls: dict[str, list] = {"stand_in_curve": [], "stand_in_single": []}
    monkeypatch.setitem(sys.modules, "benchmarks.stand_in_curve", _square_module(calls["stand_in_curve"]))
    monkeypatch.setitem(sys.modules, "benchmarks.stand_in_single", _single_module(calls["stand_in_single"]))
    monkeypatch.setattr(runner, "run_isolated", runner.run_child)
    return calls


def test_a_declared_curve_runs_at_each_size_and_is_fitted_and_drawn(in_process, tmp_path):
    entry = runner.run_benchmark("stand_in_curve", "quick", tmp_path)
    assert in_process["stand_in_curve"] == [10, 20, 40]
    assert entry["value"] == 20 * 20 / 1e6  # the headline size's figures (the middle one by default)
    curve = entry["curve"]
    assert [p["n"] for p in curve["points"]] == [10, 20, 40]
    assert [p["half_s"] for p in curve["points"]] == [5, 10, 20]
    assert curve["exponents"] == {"value": 2.0, "half_s": 1.0}
    assert curve["exponent"] == 2.0
    assert curve["sizes"] == "quick"
    png = tmp_path / "stand_in_curve.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    check_shape({"stand_in_curve": entry})


def test_a_module_without_a_curve_runs_once_at_its_size(in_process, tmp_path):
    entry = runner.run_benchmark("stand_in_single", "tiny", tmp_path)
    assert in_process["stand_in_single"] == ["tiny"]
    assert entry == {"value": 1.5, "unit": "s", "target": 2.0}
    assert not list(tmp_path.iterdir())


def test_headline_only_runs_a_curve_at_its_headline_size(in_process, tmp_path):
    entry = runner.run_benchmark("stand_in_curve", "full", tmp_path, headline_only=True)
    assert in_process["stand_in_curve"] == [1_000]
    assert "curve" not in entry


def test_the_table_flags_growth_faster_than_linear(in_process, tmp_path):
    entry = runner.run_benchmark("stand_in_curve", "tiny", tmp_path)
    text = curves.table({"stand_in_curve": entry, "single": {"value": 1, "unit": "s", "target": 2}})
    rows = text.splitlines()
    assert len(rows) == 3  # the header, its rule and the one benchmark with a curve
    assert rows[2].startswith("| `stand_in_curve` | rows (tiny) | value (s) | 2: 4e-06, 4: 1.6e-05, 8: 6.4e-05 |")
    assert "**2.0** (half_s 1.0)" in rows[2]
    assert rows[2].endswith("| faster than linear | 0.5–0.5 |")


@pytest.mark.parametrize(
    ("points", "problem"),
    [
        ([{"n": 1, "value": 1.0}, {"n": 2, "value": 1.0}], "three sizes"),
        ([{"n": 4, "value": 1.0}, {"n": 2, "value": 1.0}, {"n": 8, "value": 1.0}], "three sizes"),
        ([{"n": 2, "value": 1.0}, {"n": 4}, {"n": 8, "value": 1.0}], "value missing"),
    ],
)
def test_check_shape_rejects_a_malformed_curve(points, problem):
    entry = {"value": 1.0, "unit": "s", "target": 1.0}
    entry["curve"] = {"points": points, "costs": ["value"], "exponents": {"value": 0.0}, "exponent": 0.0}
    with pytest.raises(ValueError, match=problem):
        check_shape({"x": entry})
