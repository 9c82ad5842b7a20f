"""`python -m benchmarks [--only NAME ...] [--quick]`: run the benchmarks and write results.json.

Each benchmark runs in its own child process (`--child NAME`), so its peak memory and imports are its
own; the parent prints each one's figures and merges them into `benchmarks/results.json`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks import BENCHMARKS, MODULES
from benchmarks.common import RESULTS_JSON, ROOT, SIZES, machine, record


def run_child(name: str, size: str) -> dict[str, object]:
    """Run one benchmark in this process and return its figures."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    module = importlib.import_module(f"benchmarks.{MODULES.get(name, name)}")
    return module.run(size)


def run_isolated(name: str, size: str) -> dict[str, object]:
    """Run one benchmark in a child process; its figures come back as the last line of its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--child", name, "--size", size],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark {name} failed (exit {done.returncode})")
    return json.loads(lines[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=BENCHMARKS,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--size", choices=SIZES, default="full", help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS_JSON, help="where to write results.json")
    parser.add_argument("--child", choices=BENCHMARKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size = "quick"
    if args.child:
        print(json.dumps(run_child(args.child, args.size)), flush=True)
        return 0
    print(f"machine: {json.dumps(machine())}", flush=True)
    failed = 0
    for name in args.only or BENCHMARKS:
        try:
            figures = run_isolated(name, args.size)
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
