"""`python -m core.cli` in both modes: opening the store itself (app stopped) and through the running app's
local API (app started with `streamlit run`); exit codes 0 ok, 1 failed, 2 bad usage."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import cli
from core.config import Settings
from tests.browser.conftest import RunningApp, free_port, start_app, stop_app
from tests.members.conftest import (
    comparable,
    control,
    monitored_partners,
    prepared_workspace,
    world,
    world_rows,
)

ROOT = Path(__file__).resolve().parents[2]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PW_")} | env
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=120, check=False)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _expected(sandbox, role: str | None = None) -> list[dict[str, str]]:
    rows = world_rows(world(sandbox), [p.bc_id for p in monitored_partners(sandbox)])
    return [r for r in rows if role is None or r["TikTok role"] == role]


@pytest.fixture
def workspace(onboarded_template: Path, tmp_path: Path, sandbox) -> dict[str, str]:
    env = prepared_workspace(onboarded_template, tmp_path / "ws", sandbox)
    return env | {"PW_PORT": str(free_port())}  # nothing listens there: the app is not running


def test_usage_errors_exit_2(capsys):
    assert cli.main([]) == cli.USAGE
    assert cli.main(["export-members"]) == cli.USAGE  # --out is required
    assert cli.main(["export-members", "--out", "x.csv", "--role", "boss"]) == cli.USAGE
    assert cli.main(["sync", "--bogus"]) == cli.USAGE
    assert "usage:" in capsys.readouterr().err


def test_local_mode_sync_export_and_migrate(workspace, sandbox, tmp_path):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="cli.admin@agency.example", user_role="ADMIN")

    synced = _cli(workspace, "sync", "--partner", bc_id)
    assert synced.returncode == cli.OK, synced.stderr
    assert "Completed (1 added, 0 updated, 0 removed)" in synced.stdout

    out = tmp_path / "admins.csv"
    exported = _cli(workspace, "export-members", "--out", str(out), "--role", "admin")
    assert exported.returncode == cli.OK, exported.stderr
    assert comparable(_rows(out)) == _expected(sandbox, "Admin")
    assert f"Exported {len(_rows(out))} guest users" in exported.stdout

    settings = Settings.load(env=workspace, root=ROOT)  # the same process the subprocess would be
    printed = io.StringIO()
    assert cli.main(["sync", "--partner", "7999999999999999999"], settings=settings, out=printed) == cli.FAILED
    assert "not in the partner list" in printed.getvalue()
    assert cli.main(["migrate"], settings=settings, out=printed) == cli.OK
    assert "schema version" in printed.getvalue()


@pytest.fixture
def running_app(onboarded_template: Path, tmp_path: Path, sandbox) -> Iterator[tuple[RunningApp, dict[str, str]]]:
    env = prepared_workspace(onboarded_template, tmp_path / "ws", sandbox)
    app = start_app(tmp_path, PW_SANDBOX_EXTERNAL="1", **env)
    try:
        yield app, env | {"PW_PORT": app.url.rsplit(":", 1)[1]}
    finally:
        stop_app(app)


def test_remote_mode_goes_through_the_running_app(running_app, sandbox, tmp_path):
    app, env = running_app
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="remote.admin@agency.example", user_role="ADMIN")

    synced = _cli(env, "sync", "--partner", bc_id)
    assert synced.returncode == cli.OK, synced.stderr + app.log()
    assert "Completed" in synced.stdout

    out = tmp_path / "all.csv"
    exported = _cli(env, "export-members", "--out", str(out))
    assert exported.returncode == cli.OK, exported.stderr
    assert comparable(_rows(out)) == _expected(sandbox)
    assert "lock" not in (exported.stderr + synced.stderr).lower()

    refused = _cli(env | {"PW_API_TOKEN": "not-the-right-api-token"}, "export-members", "--out", str(out))
    assert refused.returncode == cli.FAILED
    assert "refused the CLI's API token" in refused.stderr
    assert _cli(env, "migrate").returncode == cli.OK
