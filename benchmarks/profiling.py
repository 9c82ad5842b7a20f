"""Where a script run's time goes, in AppTest: the app's shell on a data directory, and the calls a run is made of
timed by wrapping them (browser_latency's rerun profile, first_paint's first-run profile)."""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SHELL = Path(__file__).resolve().parent.parent / "ui" / "shell.py"


@contextlib.contextmanager
def timing_calls(calls: dict[tuple[str, str], str], spent: dict[str, float]) -> Iterator[None]:
    """Wrap each (module, function) of `calls` (a module attribute, looked up at call time, or a class's method,
    "Class.method") to add its seconds to `spent` under its label; restored afterwards."""
    originals = []
    for (module_name, name), label in calls.items():
        owner: Any = importlib.import_module(module_name)
        *path, func_name = name.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, func_name)
        originals.append((owner, func_name, original))

        def wrapper(*args: Any, _f: Callable[..., Any] = original, _label: str = label, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                spent[_label] = spent.get(_label, 0.0) + time.perf_counter() - t0

        setattr(owner, func_name, wrapper)
    try:
        yield
    finally:
        for owner, func_name, original in originals:
            setattr(owner, func_name, original)


@contextlib.contextmanager
def app_services(data: Path) -> Iterator[None]:
    """The app's services over the data directory `data` (the benchmark's database, after its app stopped: DuckDB
    allows one process), installed for AppTest's runs; the sandbox's workspace users seeded."""
    from core import services as core_services
    from core.connect import workspace
    from tests.support.services import make_services

    svc = make_services(data)
    workspace.sandbox_users(svc.store)
    try:
        yield
    finally:
        core_services.install(None)
        svc.close()


def shell_app() -> Any:
    """A new AppTest session of the app's shell (`ui/shell.py`), not run yet."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(SHELL), default_timeout=120)


def checked(at: Any, what: str) -> None:
    if at.exception:
        raise RuntimeError(f"{what} failed in AppTest: {at.exception}")
