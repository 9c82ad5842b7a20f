"""Scale smoke: a 200 partners x 4,000 members sandbox starts and serves (time and memory printed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_200_partners_by_4000_members_starts_and_serves() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.scale", "--partners", "200", "--members", "4000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"\nsandbox 200x4000: start-up {report['startup_seconds']} s, all members generated in "
        f"{report['generate_all_seconds']} s, peak RSS {report['peak_rss_mib']} MiB"
    )
    assert report["partners"] == 200
    assert report["members_total"] == 200 * 4001 + 4
    assert report["last_partner_total_number"] == 4001
