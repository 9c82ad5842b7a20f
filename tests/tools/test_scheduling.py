"""How the browser modules are dealt into xdist groups (tests/support/scheduling.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT
from tests.support.scheduling import BROWSER_GROUPS, BROWSER_SECONDS, UNLISTED_SECONDS, deal_browser_modules

E2E = sorted(f"tests/e2e/{p.name}" for p in (Path(__file__).parents[1] / "e2e").glob("test_*.py"))


def _seconds(modules: list[str]) -> int:
    return sum(BROWSER_SECONDS.get(m, UNLISTED_SECONDS) for m in modules)


def test_every_browser_module_is_dealt_into_one_of_the_groups_evenly():
    dealt = deal_browser_modules(set(E2E))
    assert sorted(dealt) == E2E
    groups = {g: [m for m, group in dealt.items() if group == g] for g in set(dealt.values())}
    assert sorted(groups) == [f"e2e-{n}" for n in range(BROWSER_GROUPS)]
    loads = sorted(_seconds(modules) for modules in groups.values())
    assert loads[-1] - loads[0] <= max(BROWSER_SECONDS.get(m, UNLISTED_SECONDS) for m in E2E)


def test_the_listed_modules_exist():
    assert set(BROWSER_SECONDS) <= set(E2E)  # a renamed module would fall back to UNLISTED_SECONDS unseen


def test_modules_of_equal_seconds_alternate_in_name_order():
    dealt = deal_browser_modules({"a", "b", "c"}, groups=2)
    assert dealt == {"a": "e2e-0", "b": "e2e-1", "c": "e2e-0"}  # all unlisted: equal seconds, dealt by name


def test_xdist_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    """pytest 9.2 derives `nodeid` from a structured id, so pytest-xdist 3.8's group suffix (set on `_nodeid`) is
    lost and `--dist loadgroup` spreads a group's tests over the workers (each module fixture built on each):
    the pinned pair must keep a group together."""
    (tmp_path / "test_grouped.py").write_text(
        "import os, pytest\n"
        "pytestmark = pytest.mark.xdist_group('one')\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_n(n):\n"
        "    with open('workers.txt', 'a') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'] + '\\n')\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = (tmp_path / "workers.txt").read_text(encoding="utf-8").split()
    assert len(workers) == 6
    assert len(set(workers)) == 1, workers


def _run_skipped_browser_test(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skipped.py").write_text(
        "import pytest\n@pytest.mark.browser\ndef test_needs_chromium():\n    pytest.skip('Chromium not found')\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.support.scheduling",
            "-W",
            "ignore",
        ],
        cwd=tmp_path,
        env={**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_skipped_browser_test_outside_tests_e2e_fails_in_ci(tmp_path: Path) -> None:
    """The rule lives in the plugin every test module gets, so the browser benchmarks' smoke runs are held to it
    too (it was once registered by tests/e2e's conftest only)."""
    done = _run_skipped_browser_test(tmp_path, "true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "browser test skipped in CI (not allowed)" in done.stdout


def test_a_skipped_browser_test_is_only_skipped_outside_ci(tmp_path: Path) -> None:
    done = _run_skipped_browser_test(tmp_path, "")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
