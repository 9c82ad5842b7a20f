"""What the browser benchmarks share: the app on a copy of the benchmark database, Debian's Chromium driven
by Playwright (async API), and the page-side timer `probe.js`.

The timer never polls in the page (a MutationObserver and the WebSocket's events resolve a promise that
Python awaits), so waiting sessions cost the shared CPU nothing. The app's CPU seconds and memory are read
from /proc/<pid>.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import datagen
from benchmarks.members_query import synthetic_database
from core.store.database import Store
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, RunningApp, start_app, stop_app

PROBE = (Path(__file__).resolve().parent / "probe.js").read_text(encoding="utf-8")
SIZES = {"full": (250, 4000), "quick": (25, 4000), "tiny": (3, 120)}  # partners × members per partner
TASKS = {"full": 10_000, "quick": 1_000, "tiny": 120}  # Automation's tasks at each size
PER_PARTNER, MIN_PARTNERS, MIN_TASKS = 4000, 3, 120  # the shape of a database of n members (`shape`)
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def prepare(size: str, path: Path) -> Path:
    """The members benchmark database of `size`, copied to `path`, with Automation's synthetic tasks added."""
    return prepare_at(*SIZES[size], TASKS[size], path)


def shape(members: int) -> tuple[int, int, int]:
    """(partners, members per partner, tasks) of the browser database of about `members` members: 4,000 members
    a partner and a task per 100 members (1M: 250 partners and 10,000 tasks, the issue's), at least 3 partners
    (Partners' interactions pick one other than the one shown) and 120 tasks (Automation has a next page)."""
    partners = max(MIN_PARTNERS, math.ceil(members / PER_PARTNER))
    return partners, members // partners, max(MIN_TASKS, members // 100)


def prepare_at(partners: int, per_partner: int, tasks: int, path: Path) -> Path:
    """The members benchmark database of `partners` × `per_partner`, copied to `path`, with `tasks` synthetic
    tasks added (Automation's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(synthetic_database(partners, per_partner), path)
    store = Store(path)
    try:
        datagen.synthetic_tasks(store, tasks)
    finally:
        store.close()
    return path


def start(tmp: Path, **env: str) -> RunningApp:
    """The app (`streamlit run`) on its own ports, data under `tmp`: over `tmp/data/pw.duckdb` with its
    embedded sandbox unless `env` says otherwise (PW_DB_PATH, PW_SANDBOX_EXTERNAL, ...)."""
    return start_app(tmp, **env)


def stop(app: RunningApp) -> None:
    stop_app(app)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, its own threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def browsers_cpu_seconds(root: int | None = None) -> float:
    """User + system CPU seconds so far of every Chromium process below `root` (default: this process), the
    children they have reaped included: the renderers of closed pages count while the browser runs."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):  # the process ended while the table was read
            continue
        fields = tail.split()
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        if head.split("(", 1)[1].startswith("chrom"):
            ticks[pid] = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    below = {root or os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in below} - below
        below |= found
        grew = bool(found)
    return sum(t for pid, t in ticks.items() if pid in below) / CLK_TCK


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's resident memory now (VmRSS) or at its peak (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def niced_chromium(tmp: Path, niceness: int) -> str:
    """A wrapper that starts Chromium (and so every process it forks) at `niceness`."""
    wrapper = tmp / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {niceness} {CHROMIUM} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return str(wrapper)


async def launch(pw: Any, executable: str = CHROMIUM) -> Any:
    """Headless Chromium with the test suite's flags."""
    return await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


@dataclass
class Timing:
    """One interaction or navigation, in seconds from the input (a navigation: from its start)."""

    label: str
    repaint: float  # the canvas drew the new first row (the accessible row's change when it did not draw it)
    row: float  # the accessible first row changed
    done: float
    sent: float
    first: float
    last: float
    frames: int
    bytes: int
    unchanged: bool
    drawn: bool  # the canvas's drawing of the new first row was seen (else `repaint` is `row`)
    request: float = 0.0  # the first request on the WebSocket (a navigation's: its new session's first rerun)

    @classmethod
    def of(cls, label: str, m: dict[str, Any]) -> Timing:
        start = m["input"]

        def since(key: str) -> float:
            value = m.get(key)
            return round(((value if value is not None else m["done"]) - start) / 1000, 4)

        repaint = since("canvas") if m.get("canvas") is not None else since("repaint")
        return cls(
            label,
            repaint=repaint,
            row=since("repaint"),
            done=since("done"),
            sent=since("sent"),
            first=since("first"),
            last=since("last"),
            frames=int(m["frames"]),
            bytes=int(m["bytes"]),
            unchanged=bool(m.get("unchanged")),
            drawn=m.get("canvas") is not None,
            request=since("request"),
        )


async def open_page(browser: Any, url: str, timeout_s: float = TIMEOUT_S) -> tuple[Any, Timing]:
    """A new browser session (context) on `url` whose actions wait up to `timeout_s`; returns its page and
    the navigation's timing."""
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(PROBE)
    page = await context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    await page.goto(url)
    result = await asyncio.wait_for(page.evaluate("window.__bench.result()"), timeout_s)
    return page, Timing.of(url.rsplit("/", 1)[-1] or "home", result)


async def navigate(page: Any, url: str) -> Timing:
    """A fresh load of `url` in an open page (a new Streamlit session), timed from navigation start."""
    await page.goto(url)
    result = await asyncio.wait_for(page.evaluate("window.__bench.result()"), TIMEOUT_S)
    return Timing.of(url.rsplit("/", 1)[-1], result)


async def timed(page: Any, label: str, action: Callable[[], Awaitable[object]]) -> Timing:
    """Arm the timer, perform `action` (Playwright input), and await the rerun it caused."""
    await page.evaluate("window.__bench.arm()")
    await action()
    try:
        result = await asyncio.wait_for(page.evaluate("window.__bench.result()"), TIMEOUT_S * 3)
    except TimeoutError as exc:
        raise TimeoutError(f"{label or 'set-up step'}: no rerun result; {await _stall(page)}") from exc
    return Timing.of(label, result)


_STALL = """() => {
  const m = window.__bench.m || {};
  const app = document.querySelector('[data-testid="stApp"]');
  return {sent: m.sent !== undefined, frames: m.frames, sawRunning: m.sawRunning, rowSeen: m.rowSeen !== undefined,
          doneSeen: m.doneSeen !== undefined, state: app ? app.getAttribute('data-test-script-state') : null,
          stale: document.querySelectorAll('[data-stale="true"]').length};
}"""


async def _stall(page: Any) -> str:
    """What the timer saw of a rerun that never finished (for the error message)."""
    return json.dumps(await page.evaluate(_STALL))
