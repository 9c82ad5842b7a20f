"""Smoke test of the browser benchmarks (`browser_latency`, `concurrent_sessions`): each runs at its tiny
size in its own process (the app, Chromium, the page-side timer) and reports figures of results.json's
shape. Timing is never asserted here (that is what `make bench` reports); what is asserted is that the
timer measured every interaction in order (input, request, replies, finished) and nothing failed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.browser_latency import INTERACTIONS, PAGE_INTERACTIONS, PAGES
from benchmarks.common import check_shape
from benchmarks.concurrent_sessions import PER_SESSION, SESSIONS
from tests.support.browser import CHROMIUM

# each test its own xdist group (tests/support/scheduling.py): the two share no fixture, so both workers take one
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_each_test]


@pytest.fixture
def chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")


def _run(name: str, tmp_path: Path) -> dict:
    results = tmp_path / "results.json"
    assert main(["--size", "tiny", "--headline-only", "--results", str(results), "--only", name]) == 0
    data = json.loads(results.read_text(encoding="utf-8"))
    check_shape(data)
    assert data[name]["size"] == "tiny"
    return data[name]


def test_browser_latency_times_every_interaction_and_page(chromium: None, tmp_path: Path) -> None:
    figures = _run("browser_latency", tmp_path)
    assert figures["interactions"] == INTERACTIONS["tiny"]
    assert 0 < figures["repaint_p50_s"] <= figures["repaint_p95_s"]
    assert 0 < figures["finished_p50_s"] <= figures["finished_p95_s"]
    assert figures["first_row_drawn_seen"] > 0  # the canvas was seen drawing a new first row (fillText)
    phases = figures["phases_median"]
    assert phases["reply_frames"] > 0
    assert phases["reply_kib"] > 0
    assert all(phases[k] >= 0 for k in ("input_to_request_s", "request_to_first_reply_s", "first_to_last_reply_s"))
    ways = {"cold": "first_paint_s", "new_tab": "first_paint_new_tab_s", "in_app": "first_paint_in_app_s"}
    breakdown = figures["first_paint_breakdown"]
    assert set(breakdown) == set(ways)
    for way, key in ways.items():
        assert set(figures[key]) == set(breakdown[way]) == set(PAGES), key
        for name, paint in figures[key].items():
            assert 0 < paint["first_reply_s"] <= paint["finished_s"], (key, name)
            assert 0 < paint["first_row_s"] <= paint["accessible_row_s"], (key, name)  # drawn, then in the DOM
            phases = breakdown[way][name]
            assert 0 < phases["before_request_s"] < paint["first_reply_s"], (way, name)
            assert phases["main_thread_s"]["script"] > 0, (way, name)
    cold, warm = breakdown["cold"]["members"], breakdown["new_tab"]["members"]
    assert warm["scripts_from_cache"] > 0 == cold["scripts_from_cache"]  # the new tab's scripts came from the cache
    assert warm["fetched_kib"] < cold["fetched_kib"]
    first_runs = figures["first_run_profile_s"]
    assert set(first_runs) == {f"{way}.{name}" for way in ("new_session", "in_app") for name in PAGES}
    assert all(0 < run["sign_in_check"] < run["script_run"] for run in first_runs.values())
    profile = figures["apptest_rerun_profile_s"]
    assert 0 < profile["members_query"] < profile["rerun"]
    assert figures["app_cpu_s_per_interaction"] > 0
    others = figures["other_pages"]
    assert set(others) == {"partners", "automation"}
    for name, kinds in (("partners", {"partner picked"}), ("automation", {"next page", "task opened"})):
        assert others[name]["interactions"] == PAGE_INTERACTIONS["tiny"], name
        assert set(others[name]["p95_s_by_kind"]) == kinds, name
        assert 0 < others[name]["finished_p50_s"] <= others[name]["finished_p95_s"], name
    assert others["automation"]["repaint_p95_s"] > 0  # the next page of tasks has a new first row


def test_concurrent_sessions_run_without_errors_while_a_sync_runs(chromium: None, tmp_path: Path) -> None:
    figures = _run("concurrent_sessions", tmp_path)
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["interactions"] == SESSIONS["tiny"] * PER_SESSION["tiny"]
    assert figures["single_session_p95_s"] > 0
    assert figures["concurrent_p95_s"] > 0
    assert figures["value"] == pytest.approx(figures["concurrent_p95_s"] / figures["single_session_p95_s"], rel=0.02)
    paced = figures["paced"]  # the same sessions again, each pausing before every step
    assert paced["interactions"] == SESSIONS["tiny"] * PER_SESSION["tiny"]
    assert paced["ratio"] == pytest.approx(paced["concurrent_p95_s"] / figures["single_session_p95_s"], rel=0.02)
    assert paced["think_s_mean"] > 0
    assert sum(figures["check_for_updates_during"].values()) > 0  # a Check for updates ran meanwhile
    assert figures["app_cpu_s_per_interaction"] > 0
    assert figures["browsers_cpu_s_per_interaction"] > 0  # the renderers' share is counted, closed pages included
    assert figures["browsers_cpu_s_per_interaction_alone"] > 0
    assert figures["cpu_floor_ratio"] > 0
    assert figures["app_peak_rss_mib"] > 0
