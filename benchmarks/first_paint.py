"""First paint after navigation, three ways (browser_latency, point 4): how soon Members', Partners' and
Automation's table draws its first row (and is in the DOM), and the page's run finishes; target < 1.0 s each way.

- `in_app`: in an open session, the page's link in the sidebar clicked (st.navigation: no reload, the same
  session, the frontend already loaded), timed from the click; each page reached from the one before it
  (the session opens on Partners, then Members, Automation, Partners).
- `new_tab`: the page's URL opened in a new tab of a browser profile (on disk) that has shown the three pages
  before (a returning user: Streamlit's hashed bundles come from the HTTP cache, served `immutable`, with
  whatever else Chromium keeps in a profile); a new session, timed from navigation start.
- `cold`: the page's URL in a new browser context (an empty HTTP cache: a first visit ever); a new session,
  timed from navigation start. browser_latency's `first_paint_s`.

Where the time goes (`breakdown`, medians per way and page), from the page's timer (`probe.js`): the frontend
before the request (a navigation: the document, the scripts, the session's WebSocket; a click: its handling),
the request to the first reply (the session's start and the run's), the first to the last reply (the script
running and streaming its elements), the last reply to the run finished (the frontend), and the run finished to
the first row drawn (the grid); with Chromium's main-thread seconds over the same span (CDP
`Performance.getMetrics`: script, layout and style, every task), and, for navigations, when the document, the
host configuration and the grid's chunk arrived and the session's WebSocket was created and open, the bytes
fetched and the scripts that came from the cache. The server's part is profiled in AppTest
(`first_run_profile`): a new session's first run of each page, and each page reached in an open session, with
the calls they are made of.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import browser, profiling
from benchmarks.browser import Timing

TARGET_S = 1.0
PAGES = ("members", "partners", "automation")
WAYS = ("in_app", "new_tab", "cold")
IN_APP_ORDER = ("members", "automation", "partners")  # each from the one before; the session opens on Partners
TITLES = {"members": "Members", "partners": "Partners", "automation": "Automation"}
# CDP Performance.getMetrics: seconds of the renderer's main thread, by kind
MAIN_THREAD = {
    "ScriptDuration": "script",
    "LayoutDuration": "layout",
    "RecalcStyleDuration": "style",
    "TaskDuration": "tasks",
}


@dataclass
class Paint:
    """One timed navigation: the page timer's figures, the main thread's seconds over it, how the page loaded."""

    timing: Timing
    main_thread: dict[str, float]
    timeline: dict[str, Any] = field(default_factory=dict)  # navigations only (`probe.js` bench.timeline)


async def _main_thread(cdp: Any) -> dict[str, float]:
    found = await cdp.send("Performance.getMetrics")
    return {MAIN_THREAD[m["name"]]: float(m["value"]) for m in found["metrics"] if m["name"] in MAIN_THREAD}


async def _load(context: Any, url: str) -> Paint:
    """`url` opened in a new tab of `context` (a new session), timed from navigation start."""
    page = await context.new_page()
    page.set_default_timeout(browser.TIMEOUT_S * 1000)
    cdp = await context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    try:
        await page.goto(url)
        result = await asyncio.wait_for(page.evaluate("window.__bench.result()"), browser.TIMEOUT_S)
        timeline = await page.evaluate("window.__bench.timeline()")
        main_thread = await _main_thread(cdp)
    finally:
        await page.close()
    return Paint(Timing.of(url.rsplit("/", 1)[-1], result), main_thread, timeline)


async def _context(chromium: Any) -> Any:
    context = await chromium.new_context(viewport=browser.VIEWPORT)
    await context.add_init_script(browser.PROBE)
    return context


async def cold(chromium: Any, url: str, runs: int) -> dict[str, list[Paint]]:
    """Each page's URL, `runs` times, in a new browser context each (a first visit ever)."""
    by_page: dict[str, list[Paint]] = {name: [] for name in PAGES}
    for _ in range(runs):
        for name in PAGES:
            context = await _context(chromium)
            try:
                by_page[name].append(await _load(context, f"{url}/{name}"))
            finally:
                await context.close()
    return by_page


async def new_tab(chromium: Any, url: str, runs: int) -> dict[str, list[Paint]]:
    """Each page's URL, `runs` times, in a new tab of a browser profile that showed the three pages first.

    The profile is on disk, as a person's is; an off-the-record context (`browser.new_context`) keeps its caches in
    memory only, and its new tabs were slower (benchmarks/RESULTS.md, "First paint three ways")."""
    by_page: dict[str, list[Paint]] = {name: [] for name in PAGES}
    with tempfile.TemporaryDirectory(prefix="pw-bench-profile-") as profile:
        context = await chromium.browser_type.launch_persistent_context(
            profile,
            executable_path=browser.CHROMIUM,
            headless=True,
            args=browser.CHROMIUM_ARGS,
            viewport=browser.VIEWPORT,
        )
        try:
            await context.add_init_script(browser.PROBE)
            for _ in range(2):  # the returning user's earlier visits (not timed)
                for name in PAGES:
                    await _load(context, f"{url}/{name}")
            for _ in range(runs):
                for name in PAGES:
                    by_page[name].append(await _load(context, f"{url}/{name}"))
        finally:
            await context.close()
    return by_page


async def in_app(chromium: Any, url: str, runs: int) -> dict[str, list[Paint]]:
    """The sidebar's link to each page clicked, `runs` times, in one session opened on Partners."""
    by_page: dict[str, list[Paint]] = {name: [] for name in PAGES}
    page, _ = await browser.open_page(chromium, f"{url}/partners")
    try:
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        nav = page.get_by_test_id("stSidebarNav")
        for _ in range(runs):
            for name in IN_APP_ORDER:
                link = nav.get_by_role("link", name=TITLES[name], exact=True)
                before = await _main_thread(cdp)
                timing = await browser.timed(page, name, link.click)
                after = await _main_thread(cdp)
                by_page[name].append(Paint(timing, {k: after[k] - before.get(k, 0.0) for k in after}))
    finally:
        await page.context.close()
    return by_page


async def measure(chromium: Any, url: str, runs: int) -> dict[str, dict[str, list[Paint]]]:
    """The three ways, `runs` times each per page."""
    return {
        "in_app": await in_app(chromium, url, runs),
        "new_tab": await new_tab(chromium, url, runs),
        "cold": await cold(chromium, url, runs),
    }


def _median(values: Iterable[float | None], digits: int = 3) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), digits) if found else None


def paint_figures(paints: dict[str, list[Paint]]) -> dict[str, dict[str, float | bool | None]]:
    """Per page (medians): the first row drawn, in the DOM, the run finished, the first reply, and whether the
    first row was drawn under the target."""
    figures: dict[str, dict[str, float | bool | None]] = {}
    for name, runs in paints.items():
        timings = [p.timing for p in runs]
        first_row = _median(t.repaint for t in timings)
        figures[name] = {
            "first_row_s": first_row,
            "accessible_row_s": _median(t.row for t in timings),
            "finished_s": _median(t.done for t in timings),
            "first_reply_s": _median(t.first for t in timings),
            "met": first_row is not None and first_row < TARGET_S,
        }
    return figures


def breakdown(paints: dict[str, list[Paint]]) -> dict[str, dict[str, Any]]:
    """Per page (medians), where the time to the first row goes (module docstring)."""
    figures: dict[str, dict[str, Any]] = {}
    for name, runs in paints.items():
        ts = [p.timing for p in runs]
        phases: dict[str, Any] = {
            "before_request_s": _median(t.request for t in ts),
            "request_to_first_reply_s": _median(t.first - t.request for t in ts),
            "first_to_last_reply_s": _median(t.last - t.first for t in ts),
            "last_reply_to_finished_s": _median(t.done - t.last for t in ts),
            "finished_to_first_row_s": _median(t.repaint - t.done for t in ts),
            "reply_kib": _median((t.bytes / 1024 for t in ts), 1),
            "main_thread_s": {k: _median(p.main_thread.get(k) for p in runs) for k in MAIN_THREAD.values()},
        }
        loads = [p.timeline for p in runs if p.timeline]
        if loads:
            phases["document_s"] = _median(_seconds(t.get("document")) for t in loads)
            phases["host_config_s"] = _median(_seconds(t.get("host_config")) for t in loads)
            phases["socket_created_s"] = _median(_seconds(t.get("socket_created")) for t in loads)
            phases["socket_open_s"] = _median(_seconds(t.get("socket_open")) for t in loads)
            phases["grid_chunk_s"] = _median(_seconds(t.get("grid_chunk")) for t in loads)
            phases["fetched_kib"] = _median((t["transfer_bytes"] / 1024 for t in loads), 1)
            phases["scripts"] = _median(t["scripts"] for t in loads)
            phases["scripts_from_cache"] = _median(t["scripts_from_cache"] for t in loads)
        figures[name] = phases
    return figures


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def figures(found: dict[str, dict[str, list[Paint]]]) -> dict[str, Any]:
    """browser_latency's first-paint keys: `first_paint_s` (cold, as before) and its `_in_app` and `_new_tab`
    siblings, whether each way met the target on every page, and the breakdown."""
    paint = {way: paint_figures(found[way]) for way in WAYS}
    out: dict[str, Any] = {}
    for way, key in (
        ("cold", "first_paint_s"),
        ("in_app", "first_paint_in_app_s"),
        ("new_tab", "first_paint_new_tab_s"),
    ):
        out[key] = {name: {k: v for k, v in f.items() if k != "met"} for name, f in paint[way].items()}
    out["first_paint_target_s"] = TARGET_S
    out["first_paint_met"] = all(f["met"] for f in paint["cold"].values())
    out["first_paint_in_app_met"] = all(f["met"] for f in paint["in_app"].values())
    out["first_paint_new_tab_met"] = all(f["met"] for f in paint["new_tab"].values())
    out["first_paint_breakdown"] = {way: breakdown(found[way]) for way in WAYS}
    return out


# (module, function) → label: the calls a page's first run is made of, timed in AppTest
_FIRST_RUN_CALLS = {
    ("ui.resources", "services"): "services",
    ("ui.auth", "current_actor"): "sign_in_check",
    ("core.accounts.integration", "get"): "partners.integration",
    ("ui.snapshots", "member_counts"): "partners.member_counts",
    ("core.accounts.partners", "table"): "partners.table",
    ("core.members.changes", "summary_line"): "partners.summary_line",
    ("core.accounts.partners", "members_by_role"): "partners.chart_query",
    ("ui.snapshots", "version"): "members.data_version",
    ("ui.snapshots", "partner_options"): "members.partner_options",
    ("ui.snapshots", "member_page"): "members.page",
    ("core.sync.schedule", "policy"): "automation.policy",
    ("core.tasks.jobs", "any_active"): "automation.any_active",
    ("core.tasks.jobs", "count_tasks"): "automation.count_tasks",
    ("core.tasks.jobs", "list_tasks"): "automation.list_tasks",
    ("core.tasks.jobs", "list_jobs"): "automation.list_jobs",
    ("streamlit.dataframe_util", "convert_pandas_df_to_arrow_bytes"): "arrow_serialisation",
    ("streamlit.dataframe_util", "convert_arrow_table_to_arrow_bytes"): "arrow_serialisation",
    ("streamlit.elements.vega_charts", "generate_chart"): "chart_building",  # st.bar_chart's Altair chart
    # the shell's and the page's scripts: what a server's run is (a new AppTest also scans for components first)
    ("streamlit.testing.v1.local_script_runner", "LocalScriptRunner.run"): "script_run",
}


def _timed_run(at: Any, what: str) -> dict[str, float]:
    spent: dict[str, float] = {}
    with profiling.timing_calls(_FIRST_RUN_CALLS, spent):
        at.run()
    profiling.checked(at, what)
    return {label: round(seconds, 4) for label, seconds in sorted(spent.items())}


def first_run_profile(data: Path) -> dict[str, dict[str, float]]:
    """The server's part of a first paint, in AppTest over the data directory `data`: a new session's first run
    of each page (`new_session.<page>`: a new tab's), then each page reached in one open session
    (`in_app.<page>`): the scripts' seconds (`script_run`) and those of the calls they are made of. A first
    session visits every page before (not counted), as the app's earlier sessions did, so imports and the
    process's caches are warm."""
    with profiling.app_services(data):
        warm = profiling.shell_app()
        warm.run()
        for name in IN_APP_ORDER:
            warm.switch_page(f"../pages/{name}.py").run()
        profile: dict[str, dict[str, float]] = {}
        for name in PAGES:
            at = profiling.shell_app()
            at.switch_page(f"../pages/{name}.py")  # before the first run: the page's URL, as a new tab opens it
            profile[f"new_session.{name}"] = _timed_run(at, f"a new session on {name}")
        at = profiling.shell_app()
        at.run()
        for name in IN_APP_ORDER:
            at.switch_page(f"../pages/{name}.py")
            profile[f"in_app.{name}"] = _timed_run(at, f"{name} reached in the session")
    return profile
