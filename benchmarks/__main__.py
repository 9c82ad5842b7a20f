"""`python -m benchmarks [--only NAME ...] [--quick] [--headline-only]`: run the benchmarks, write results.json
and draw the cost curves.

Each benchmark runs in its own child process (`--child NAME`), so its peak memory and imports are its
own; the parent prints each one's figures and merges them into `benchmarks/results.json`. A benchmark that
declares a cost curve (`CURVE` and `run_at(n)`, see `benchmarks/__init__.py`) runs once per size of its curve,
each in its own child (`--child NAME --at N`); its entry holds the headline size's figures and the curve, and
its plot is drawn to `benchmarks/plots/NAME.png`. `--headline-only` runs such a benchmark at its headline size
alone (no curve). `--curves-table` prints RESULTS.md's "Cost curves" table from results.json and runs nothing.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import BENCHMARKS, MODULES, curves
from benchmarks.common import RESULTS_JSON, ROOT, SIZES, machine, read_results, record
from tools import zygote


def _module(name: str) -> ModuleType:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return importlib.import_module(f"benchmarks.{MODULES.get(name, name)}")


def curve_of(name: str) -> curves.Curve | None:
    """The benchmark's declared cost curve, or None (it runs once, at its single size)."""
    curve = getattr(_module(name), "CURVE", None)
    return curve if isinstance(curve, curves.Curve) else None


def run_child(name: str, size: str, at: int | None = None) -> dict[str, object]:
    """Run one benchmark in this process and return its figures: `run_at(at)`, or `run(size)`."""
    module = _module(name)
    if at is None:
        figures: dict[str, object] = module.run(size)
    elif "size" in inspect.signature(module.run_at).parameters:  # counts that differ by mode at the same n
        figures = module.run_at(at, size=size)
    else:
        figures = module.run_at(at)
    return figures


def run_isolated(name: str, size: str, at: int | None = None) -> dict[str, Any]:
    """Run one benchmark in a child process; its figures come back as the last line of its stdout.

    `make bench` starts `python -m benchmarks --child …`; the test suite's smoke runs (PW_TEST_ZYGOTE=1) fork
    the same command from the pytest worker's pre-imported zygote (tools/zygote.py): figures that include
    imports are then not a cold process's, which the smoke tests never compare."""
    extra = ["--at", str(at)] if at is not None else []
    done = zygote.run(
        [sys.executable, "-m", "benchmarks", "--child", name, "--size", size, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        where = f" at {at}" if at is not None else ""
        raise RuntimeError(f"benchmark {name}{where} failed (exit {done.returncode})")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def run_benchmark(name: str, size: str, plots: Path, headline_only: bool = False) -> dict[str, Any]:
    """One benchmark's results.json entry: its curve (one child per size, plot drawn) or its single run."""
    curve = curve_of(name)
    if curve is None:
        return run_isolated(name, size)
    if headline_only:
        return run_isolated(name, size, curve.headline_n(size))
    runs = []
    for n in curve.sizes(size):
        runs.append((n, run_isolated(name, size, n)))
        print(f"{name} at {curves.count(n)} {curve.parameter}: {json.dumps(runs[-1][1])}", flush=True)
    entry = curves.assemble(curve, size, runs)
    path = curves.plot(name, entry, plots)
    entry["curve"]["plot"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (three small ones per curve)")
    parser.add_argument("--headline-only", action="store_true", help="run each curve at its headline size only")
    parser.add_argument("--size", choices=SIZES, default="full", help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS_JSON, help="where to write results.json")
    parser.add_argument("--plots", type=Path, default=curves.PLOTS_DIR, help="where to draw the curves' PNGs")
    parser.add_argument("--curves-table", action="store_true", help="print the Cost curves table of results.json")
    parser.add_argument("--child", choices=BENCHMARKS, help=argparse.SUPPRESS)
    parser.add_argument("--at", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size = "quick"
    if args.curves_table:
        print(curves.table(read_results(args.results)), end="")
        return 0
    if args.child:
        print(json.dumps(run_child(args.child, args.size, args.at)), flush=True)
        return 0
    print(f"machine: {json.dumps(machine())}", flush=True)
    failed = 0
    for name in args.only or BENCHMARKS:
        try:
            figures = run_benchmark(name, args.size, args.plots, args.headline_only)
        except RuntimeError as exc:
            print(f"{name}: {exc}", file=sys.stderr, flush=True)
            failed += 1
            continue
        if args.size != "full":
            figures["size"] = args.size
        record(name, figures, args.results)
        print(f"{name}: {json.dumps(figures)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
