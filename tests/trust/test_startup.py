"""Start-up in live mode: a configuration with problems stops the process with one message listing them,
and a live app never shows a user a traceback or a server path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts import partners
from core.security.crypto import SecretBox
from core.services import install
from tests.support.browser import app_command, free_port
from tests.support.services import make_services
from tools import zygote

ROOT = Path(__file__).resolve().parents[2]
LIVE = {"PW_TIKTOK_APP_ID": "7300000000000000001", "PW_TIKTOK_APP_SECRET": "live-secret-for-tests"}


def test_live_settings_without_auth_stop_the_app_with_one_message(tmp_path: Path) -> None:
    """The issue's case: TikTok credentials and a key, no [auth]. It used to serve AttributeError pages."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PW_")}
    env |= {
        **LIVE,
        "PW_PORT": str(port),
        "PW_DATA_DIR": str(tmp_path / "data"),
        "PW_ENCRYPTION_KEYS": SecretBox.generate_key(),
    }
    app = zygote.popen(
        app_command(port, "--secrets.files", str(tmp_path / "no-secrets.toml")),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = app.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        app.kill()
        app.communicate()
        pytest.fail("the misconfigured app kept running (serving pages) instead of stopping")
    assert app.returncode == 2, out + err
    assert "PartnerWatch cannot start: 2 configuration problem(s)." in err
    for named in ("PW_PUBLIC_URL", "[auth] is missing"):
        assert f"  - {named}" in err
    assert "Traceback" not in err + out
    assert not (tmp_path / "data" / "partnerwatch.duckdb").exists()  # nothing was opened, nothing served


@pytest.fixture
def live(tmp_path):
    svc = make_services(
        tmp_path, None, PW_ENCRYPTION_KEYS=SecretBox.generate_key(), PW_ROLE_ADMINS="boss@acme.example", **LIVE
    )
    yield svc
    install(None)
    svc.close()


def test_a_live_error_shows_no_traceback_or_server_path(live, monkeypatch):
    def broken(store):
        raise RuntimeError(f"cannot read {ROOT}/data/partnerwatch.duckdb")

    monkeypatch.setattr(partners, "table", broken)
    at = AppTest.from_file("../../ui/shell.py", default_timeout=30)
    at.user = {"is_logged_in": True, "email": "boss@acme.example"}
    at.run()
    assert at.exception, "the page should have failed"
    shown = at.exception[0]
    assert str(ROOT) not in shown.message
    assert not shown.stack_trace
    assert "RuntimeError" not in shown.message
