"""Cost curves: a benchmark measured at three sizes of its scale parameter, the growth exponent fitted to the
points and a log-log plot of them.

A module opts in with `CURVE = Curve(...)` and `run_at(n) -> dict` (see `benchmarks/__init__.py`). The runner
(`benchmarks/__main__.py`) runs `run_at` once per size, each in its own process, then `assemble` keeps the
headline size's figures at the top level of the entry and adds `"curve"`: the points, the fitted exponents
and the plot's path. The exponent is the least-squares slope of log(cost) against log(n): 1 is linear, 0 a
cost that does not grow, 2 quadratic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PLOTS_DIR = Path(__file__).resolve().parent / "plots"
FASTER_THAN_LINEAR = 1.1  # an exponent above this is flagged in the table (and must be explained in RESULTS.md)


@dataclass(frozen=True)
class Curve:
    """A benchmark's scale parameter, its three sizes in each mode, and the figures whose growth is fitted.

    `costs` name figures of `run_at(n)`'s result (a dotted name reaches into a nested dict); the first is the
    benchmark's exponent, the others are fitted and drawn beside it and must share `unit`. `headline` is the
    index of the size whose figures are the benchmark's headline (the issue's size).
    """

    parameter: str
    full: tuple[int, int, int]
    quick: tuple[int, int, int]
    tiny: tuple[int, int, int]
    costs: tuple[str, ...] = ("value",)
    unit: str = "s"
    headline: int = 1

    def sizes(self, size: str) -> tuple[int, int, int]:
        """The three values of the parameter in a mode: `full`, `quick` or `tiny`."""
        sizes: tuple[int, int, int] = getattr(self, size)
        return sizes

    def headline_n(self, size: str) -> int:
        return self.sizes(size)[self.headline]


def figure(figures: Mapping[str, Any], name: str) -> float:
    """A figure by (dotted) name, e.g. `measured.create_s`."""
    value: Any = figures
    for part in name.split("."):
        value = value[part]
    return float(value)


def exponent(ns: Sequence[float], costs: Sequence[float]) -> float | None:
    """The least-squares slope of log(cost) against log(n); None unless every cost is positive and n varies."""
    if len(ns) < 2 or len(set(ns)) < 2 or any(c <= 0 or not math.isfinite(c) for c in costs):
        return None
    slope, _intercept = np.polyfit(np.log(np.asarray(ns, dtype=float)), np.log(np.asarray(costs, dtype=float)), 1)
    return round(float(slope), 3)


def assemble(curve: Curve, size: str, runs: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The results.json entry: the headline run's figures and the curve over all runs `(n, figures)`."""
    points = [
        {"n": n, **{cost: figure(figures, cost) for cost in curve.costs}, "load_average": _load(figures)}
        for n, figures in runs
    ]
    ns = [float(p["n"]) for p in points]
    exponents = {cost: exponent(ns, [float(p[cost]) for p in points]) for cost in curve.costs}
    headline = dict(runs[curve.headline][1]) if len(runs) > curve.headline else dict(runs[-1][1])
    headline["curve"] = {
        "parameter": curve.parameter,
        "sizes": size,
        "unit": curve.unit,
        "costs": list(curve.costs),
        "points": points,
        "exponents": exponents,
        "exponent": exponents[curve.costs[0]],
    }
    return headline


def _load(figures: Mapping[str, Any]) -> float | None:
    for key in ("load_average", "load_average_1m"):
        if isinstance(figures.get(key), int | float):
            return float(figures[key])
    return None


def plot(name: str, entry: Mapping[str, Any], directory: Path = PLOTS_DIR) -> Path:
    """Draw the entry's curve (log-log, each cost's points and fitted line) to `directory/<name>.png`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter

    curve = entry["curve"]
    ns = np.asarray([p["n"] for p in curve["points"]], dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    try:
        for cost in curve["costs"]:
            ys = np.asarray([p[cost] for p in curve["points"]], dtype=float)
            slope = curve["exponents"][cost]
            label = f"{cost}: n^{slope:.2f}" if slope is not None else f"{cost} (no fit)"
            (line,) = ax.plot(ns, ys, "o", label=label)
            if slope is not None:
                intercept = float(np.mean(np.log(ys) - slope * np.log(ns)))
                grid = np.geomspace(ns.min(), ns.max(), 20)
                ax.plot(grid, np.exp(intercept + slope * np.log(grid)), "-", color=line.get_color(), alpha=0.6)
        first = curve["points"][0][curve["costs"][0]]
        if first > 0:
            ax.plot(ns, first * ns / ns[0], ":", color="grey", label="linear from the first point")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: count(round(x))))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda _x, _pos: ""))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _pos: f"{y:g}" if f"{y:.0e}"[0] in "25" else ""))
        ax.set_xticks(ns)
        ax.set_xlabel(curve["parameter"])
        ax.set_ylabel(curve["unit"])
        loads = [p["load_average"] for p in curve["points"] if p["load_average"] is not None]
        load = f", load {min(loads):.1f}–{max(loads):.1f}" if loads else ""
        ax.set_title(f"{name} ({curve['sizes']} sizes{load})", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.png"
        fig.savefig(path, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The "Cost curves" table of RESULTS.md (markdown) from results.json's entries that have a curve."""
    rows = [
        "| benchmark | parameter (sizes) | cost | points | exponent | growth | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in results.items():
        curve = entry.get("curve")
        if not curve:
            continue
        cost = curve["costs"][0]
        points = ", ".join(f"{count(p['n'])}: {p[cost]:.3g}" for p in curve["points"])
        slope = curve["exponent"]
        others = [f"{c} {curve['exponents'][c]}" for c in curve["costs"][1:] if curve["exponents"][c] is not None]
        shown = f"**{slope}**" + (f" ({'; '.join(others)})" if others else "") if slope is not None else "n/a"
        rows.append(
            f"| `{name}` | {curve['parameter']} ({curve['sizes']}) | {cost} ({curve['unit']}) | {points} | {shown} "
            f"| {growth(slope)} | {_loads(curve['points'])} |"
        )
    return "\n".join(rows) + "\n"


def growth(slope: float | None) -> str:
    """How an exponent reads: below 0.8 sublinear, up to `FASTER_THAN_LINEAR` about linear (a fixed cost
    beside a linear one fits a little below 1), above it faster than linear."""
    if slope is None:
        return "no fit"
    if slope > FASTER_THAN_LINEAR:
        return "faster than linear"
    if slope >= 0.8:
        return "about linear"
    return "sublinear"


def _loads(points: Sequence[Mapping[str, Any]]) -> str:
    loads = [p["load_average"] for p in points if p.get("load_average") is not None]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"


def count(n: int) -> str:
    """`n` as the tables write it: 100k, 1M, 2.5M."""
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)
