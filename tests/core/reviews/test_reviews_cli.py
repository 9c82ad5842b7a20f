"""`python -m core.cli review report --campaign ID --out DIR`: the same two files as the page, opening the store
itself or through the running app's API; exit 2 for bad usage, 1 for a campaign without a report."""

from __future__ import annotations

import hashlib
import io
import socket
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from benchmarks import datagen
from core import cli
from core import services as core_services
from core.cli import remote
from core.cli.errors import UsageError
from core.config.settings import Settings
from core.reviews import campaigns, report
from core.reviews.campaigns import Scope
from tests.support.reviews import ADMIN_A
from tests.support.services import make_services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(tmp_path: Path) -> Settings:
    env = {
        "PW_DB_PATH": str(tmp_path / "pw.duckdb"),
        "PW_DATA_DIR": str(tmp_path / "data"),
        "PW_PORT": str(_free_port()),  # nothing listens: the app is not running
    }
    return Settings.load(env=env, secrets_file=tmp_path / "absent.toml", root=tmp_path)


@pytest.fixture
def signed_off(tmp_path: Path) -> tuple[Settings, int, int, bytes, str]:
    store = datagen.synthetic_store(tmp_path / "pw.duckdb", 3, 20)
    closed = campaigns.create(store, ADMIN_A, name="CLI", scope=Scope())
    closed = campaigns.close(store, ADMIN_A, closed.id, accept_undecided=True)
    still_open = campaigns.create(store, ADMIN_A, name="open", scope=Scope())
    pdf = report.stored_pdf(store, ADMIN_A, closed.id)
    store.close()
    return _settings(tmp_path), closed.id, still_open.id, pdf, closed.csv_sha256


def _run(settings: Settings, *argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = cli.main(list(argv), settings=settings, out=io.StringIO(), err=err)
    return code, err.getvalue()


def test_local_mode_writes_the_signed_off_files(signed_off, tmp_path):
    settings, closed_id, open_id, pdf, digest = signed_off
    out = tmp_path / "out"
    out.mkdir()
    assert _run(settings, "review", "report", "--campaign", str(closed_id), "--out", str(out)) == (0, "")
    csv_name, pdf_name = report.file_names(closed_id)
    assert hashlib.sha256((out / csv_name).read_bytes()).hexdigest() == digest
    assert (out / pdf_name).read_bytes() == pdf
    code, err = _run(settings, "review", "report", "--campaign", str(open_id), "--out", str(out))
    assert code == cli.FAILED
    assert "produced at sign-off" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["review", "report", "--campaign", "999", "--out", "."], "does not exist"),
        (["review", "report", "--campaign", "x", "--out", "."], "invalid int value"),
        (["review", "report", "--campaign", "1", "--out", "/nonexistent/folder"], "not an existing folder"),
        (["review", "report", "--out", "."], "--campaign"),
    ],
)
def test_usage_errors_exit_2(signed_off, argv, message):
    code, err = _run(signed_off[0], *argv)
    assert code == cli.USAGE
    assert message in err
    assert err.count("\n") == 1


def test_remote_mode_writes_the_same_files_through_the_app(signed_off, tmp_path):
    _, closed_id, _, pdf, digest = signed_off
    svc = make_services(tmp_path, PW_API_TOKEN="cli-token-0123456789abcdef")  # the app's services on the same database
    try:
        from ui.api import ROUTES

        backend = remote.RemoteBackend.__new__(remote.RemoteBackend)
        backend.client = TestClient(
            Starlette(routes=ROUTES), headers={"Authorization": "Bearer cli-token-0123456789abcdef"}
        )
        out = tmp_path / "remote"
        out.mkdir()
        csv_path, pdf_path = backend.review_report(closed_id, out)
        assert hashlib.sha256(csv_path.read_bytes()).hexdigest() == digest
        assert pdf_path.read_bytes() == pdf
        with pytest.raises(UsageError, match="does not exist"):
            backend.review_report(999, out)
    finally:
        core_services.install(None)
        svc.close()
