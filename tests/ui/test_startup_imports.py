"""The OAuth callback must not be the first code to import the HTTP stack (issue 12): a first import in a
worker thread, while Streamlit's rerun briefly changes `sys.path`, failed with `No module named 'httpcore'`.
In a fresh interpreter, after the routes module is imported and its lifespan has run, httpx and its
transport are loaded, and a whole callback (exchange, `bc/get/`, store) imports no module at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sandbox.server import SandboxServer
from sandbox.testing import obtain_auth_code
from tests.support.services import CUSTOMER_ADMIN, PASSWORD

ROOT = Path(__file__).resolve().parents[2]
REDIRECT_URI = "http://localhost:8501/api/oauth/tiktok/callback"


def _child_env(tmp_path: Path, sandbox: SandboxServer) -> dict[str, str]:
    env = {
        **os.environ,
        "PW_SANDBOX_PORT": str(urlparse(sandbox.base_url).port),
        "PW_SANDBOX_EXTERNAL": "1",
        "PW_PORT": "8501",
        "PW_DATA_DIR": str(tmp_path / "data"),
        "PW_DB_PATH": str(tmp_path / "pw.duckdb"),
    }
    for key in ("PW_TIKTOK_APP_ID", "PW_TIKTOK_APP_SECRET", "PW_REDIRECT_URI"):
        env.pop(key, None)
    return env


@pytest.mark.slow
def test_lifespan_loads_the_http_stack_and_the_callback_imports_nothing_new(tmp_path, sandbox):
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ui.callback_child"],
        cwd=ROOT,
        env=_child_env(tmp_path, sandbox),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("STATE "), line + child.stderr.read()
        state = line.split()[1]
        code = obtain_auth_code(sandbox.base_url, "7100000000000000000", REDIRECT_URI, CUSTOMER_ADMIN, PASSWORD, state)
        out, err = child.communicate(code + "\n", timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    result = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[len("RESULT ") :])
    assert result["at_startup"] == {name: True for name in result["at_startup"]}, result["at_startup"]
    assert result["status"] == 200, err
    assert result["imported_by_callback"] == []
