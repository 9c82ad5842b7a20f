"""Shared helpers of the benchmarks: sizes, the machine, memory readings, percentiles and results.json.

Every benchmark module exposes `run(size: str) -> dict`, or `CURVE` and `run_at(n: int) -> dict`
(`benchmarks/curves.py`), returning its figures: `value` (the headline
figure), `unit`, `target`, then further figures. `record` merges them into `benchmarks/results.json`
(`{"name": {"value": ..., "unit": ..., "target": ..., ...}}`), keeping the other benchmarks' entries.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON = Path(__file__).resolve().parent / "results.json"
SIZES = ("full", "quick", "tiny")  # full: the sizes; quick: a smoke run; tiny: the test suite's
PYTHON = sys.executable
CACHE = Path(tempfile.gettempdir()) / "partnerwatch-bench"  # generated databases, kept between runs


def cached_database(name: str, generate: Callable[..., None], *args: object) -> Path:
    """`CACHE/name`, generated once per machine by `generate(path, *args)` in a child process (loading a large
    database peaks at far more memory than what a benchmark measures in its own process), under a name of this
    process's own and renamed when complete."""
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")  # runs started together do not share a file
        partial.unlink(missing_ok=True)
        child = multiprocessing.get_context("spawn").Process(target=generate, args=(partial, *args))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"generating {path.name} failed (exit {child.exitcode})")
        partial.rename(path)
    return path


def machine() -> dict[str, object]:
    """What the figures ran on (RESULTS.md quotes it)."""
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(_meminfo_kib("MemTotal") / 1024 / 1024, 1),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _meminfo_kib(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def rss_mib() -> float:
    """The current resident set size of this process."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """The peak resident set size of this process so far."""
    return _status_kib("VmHWM") / 1024


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile (0..100) by linear interpolation."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[min(98, max(0, round(pct) - 1))]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def read_results(path: Path = RESULTS_JSON) -> dict[str, dict]:
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def record(name: str, figures: dict[str, object], path: Path = RESULTS_JSON) -> None:
    """Merge one benchmark's figures into results.json."""
    results = read_results(path)
    results[name] = figures
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def check_shape(results: dict[str, dict]) -> None:
    """Raise ValueError unless every entry has a numeric value and target and a unit, and its curve (if it
    has one) three points of increasing size, each with every cost, and an exponent per cost."""
    for name, figures in results.items():
        for key, kind in (("value", (int, float)), ("target", (int, float)), ("unit", str)):
            if not isinstance(figures.get(key), kind) or isinstance(figures.get(key), bool):
                raise ValueError(f"{name}.{key} is missing or not a {kind}")
        if "curve" in figures:
            _check_curve(name, figures["curve"])


def _check_curve(name: str, curve: dict) -> None:
    points, costs = curve.get("points") or [], curve.get("costs") or []
    ns = [p.get("n") for p in points]
    if len(points) != 3 or not all(isinstance(n, int) and n > 0 for n in ns) or ns != sorted(set(ns)):
        raise ValueError(f"{name}.curve.points: three sizes in increasing order expected, got {ns}")
    exponents = curve.get("exponents") or {}
    if not costs or set(exponents) != set(costs) or curve.get("exponent") != exponents[costs[0]]:
        raise ValueError(f"{name}.curve: an exponent per cost expected")
    for cost in costs:
        if not all(isinstance(p.get(cost), int | float) for p in points):
            raise ValueError(f"{name}.curve.points: {cost} missing")
