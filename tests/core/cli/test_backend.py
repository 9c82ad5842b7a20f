"""`python -m core.cli` in both modes: opening the store itself (app stopped) and through the running app's
local API (app started with `streamlit run`); exit codes 0 ok, 1 failed, 2 bad usage.

Most commands run in this process (`cli.main` with the same environment, output captured at the file
descriptors), since a `python -m core.cli` process spends most of its time importing; the cron contract (quiet
on success, nothing on stderr, not even a log line) is checked through the real entry point in a subprocess."""

from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import cli
from core.cli.running_app import APP_URL_FILE
from core.config.settings import Settings
from tests.support.browser import RunningApp, free_port, start_app, stop_app
from tests.support.compare import comparable, world_rows
from tests.support.onboarding import prepared_workspace
from tests.support.sandbox import control, monitored_partners, world
from tools import zygote

ROOT = Path(__file__).resolve().parents[3]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PW_")} | env
    return zygote.run(
        [sys.executable, "-m", "core.cli", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _run(capfd: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """What `_cli` answers, from `cli.main` in this process: settings from the same environment, stdout and
    stderr read at the file descriptors (so a stray print or native write counts as output too)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PW_")} | env
    capfd.readouterr()  # what came before is not this command's
    root = logging.getLogger()
    level = root.level
    try:
        code = cli.main(list(args), settings=Settings.load(env=full, root=ROOT))
    finally:
        root.setLevel(level)  # the CLI sets the root level for its process; this process goes on
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["core.cli", *args], code, out, err)


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


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["export-members"],  # --out is required
        ["export-members", "--out", "x.csv", "--role", "boss"],
        ["sync", "--bogus"],
        ["export-members", "--out", "/no/such/folder/x.csv"],
        ["export-members", "--out", "."],
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv):
    assert cli.main(argv) == cli.USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("python -m core.cli: error: ")
    assert captured.err.count("\n") == 1, captured.err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.slow
def test_local_mode_is_quiet_on_success_and_verbose_with_v(workspace, sandbox, tmp_path, capfd):
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="cli.admin@agency.example", user_role="ADMIN")

    synced = _cli(workspace, "sync", "--partner", bc_id)  # the entry point itself, as cron runs it
    assert (synced.returncode, synced.stdout, synced.stderr) == (cli.OK, "", "")  # cron mails nothing
    verbose = _run(capfd, workspace, "-v", "sync", "--partner", bc_id)
    assert verbose.returncode == cli.OK, verbose.stderr
    assert "Completed (0 added, 0 updated, 0 removed)" in verbose.stdout

    out = tmp_path / "admins.csv"
    exported = _cli(workspace, "export-members", "--out", str(out), "--role", "admin")
    assert (exported.returncode, exported.stdout, exported.stderr) == (cli.OK, "", "")
    assert comparable(_rows(out)) == _expected(sandbox, "Admin")
    exported = _run(capfd, workspace, "export-members", "--out", str(out), "--role", "admin", "-v")
    assert f"Exported {len(_rows(out))} guest users" in exported.stdout

    settings = Settings.load(env=workspace, root=ROOT)  # the same process the subprocess would be
    printed = io.StringIO()
    assert cli.main(["migrate", "-v"], settings=settings, out=printed) == cli.OK
    assert "schema version" in printed.getvalue()


def test_a_partner_that_does_not_exist_is_a_usage_error(workspace, tmp_path, capfd):
    out = tmp_path / "none.csv"
    for args in (
        ["export-members", "--out", str(out), "--partner", "not-a-partner"],
        ["sync", "--partner", "7999999999999999999"],
    ):
        done = _run(capfd, workspace, *args)
        assert done.returncode == cli.USAGE, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "no partner with this BC id" in done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_sync_on_a_terminal_shows_a_progress_line(workspace, capfd):
    settings = Settings.load(env=workspace, root=ROOT)
    out, err = io.StringIO(), _Tty()
    assert cli.main(["sync"], settings=settings, out=out, err=err) == cli.OK, err.getvalue()
    assert "\r\x1b[KCheck for updates #" in err.getvalue()
    assert err.getvalue().endswith("\r\x1b[K")  # the line is cleared: nothing is left on success
    assert out.getvalue() == ""
    assert "\r" not in _run(capfd, workspace, "sync").stderr  # not a terminal (cron): no progress line


@pytest.fixture
def running_app(onboarded_template: Path, tmp_path: Path, sandbox) -> Iterator[tuple[RunningApp, dict[str, str]]]:
    env = prepared_workspace(onboarded_template, tmp_path / "ws", sandbox)
    app = start_app(tmp_path, PW_SANDBOX_EXTERNAL="1", **env)
    try:
        yield app, env | {"PW_PORT": app.url.rsplit(":", 1)[1]}
    finally:
        stop_app(app)


@pytest.mark.slow
def test_remote_mode_goes_through_the_running_app(running_app, sandbox, tmp_path, capfd):
    app, env = running_app
    bc_id = monitored_partners(sandbox)[0].bc_id
    control(sandbox, "members/add", bc_id=bc_id, user_email="remote.admin@agency.example", user_role="ADMIN")

    synced = _run(capfd, env, "-v", "sync", "--partner", bc_id)
    assert synced.returncode == cli.OK, synced.stderr + app.log()
    assert "Completed" in synced.stdout

    out = tmp_path / "all.csv"
    exported = _run(capfd, env, "export-members", "--out", str(out))
    assert (exported.returncode, exported.stderr) == (cli.OK, "")
    assert comparable(_rows(out)) == _expected(sandbox)
    assert "lock" not in (exported.stderr + synced.stderr).lower()

    refused = _run(capfd, env | {"PW_API_TOKEN": "not-the-right-api-token"}, "export-members", "--out", str(out))
    assert refused.returncode == cli.FAILED
    assert "refused the CLI's API token" in refused.stderr
    assert _run(capfd, env, "migrate").returncode == cli.OK


@pytest.mark.slow
def test_the_cli_finds_the_app_on_another_port(running_app, sandbox, tmp_path, capfd):
    app, env = running_app
    elsewhere = env | {"PW_PORT": str(free_port())}  # the CLI's own idea of the port is wrong
    out = tmp_path / "found.csv"
    exported = _run(capfd, elsewhere, "export-members", "--out", str(out))  # found through data/app.url
    assert (exported.returncode, exported.stderr) == (cli.OK, ""), app.log()
    assert comparable(_rows(out)) == _expected(sandbox)
    refused = _run(capfd, elsewhere, "export-members", "--out", str(out), "--partner", "not-a-partner")
    assert refused.returncode == cli.USAGE  # checked by the running app, answered as a usage error
    assert "no partner with this BC id" in refused.stderr

    (Path(env["PW_DATA_DIR"]) / APP_URL_FILE).unlink()  # an app that cannot be found
    lost = _run(capfd, elsewhere, "export-members", "--out", str(out))
    assert lost.returncode == cli.FAILED
    assert "set PW_APP_URL" in lost.stderr
    assert lost.stderr.count("\n") == 1
    told = _run(capfd, elsewhere | {"PW_APP_URL": app.url}, "export-members", "--out", str(out))
    assert (told.returncode, told.stderr) == (cli.OK, "")
