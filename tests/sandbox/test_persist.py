"""A sandbox with a state file keeps its tokens, auth codes and control changes across a restart; a reset,
another seed or no state file start from the seed."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.__main__ import config_from_args, parse_args
from sandbox.server import SandboxConfig, SandboxServer
from sandbox.testing import obtain_auth_code

REDIRECT = "http://localhost:8501/api/oauth/tiktok/callback"
CUSTOMER_ADMIN = "admin@acme.example"


def _config(state_file: Path | None, **changes: Any) -> SandboxConfig:
    return SandboxConfig(
        partners=3, members=8, redirect_uris=[REDIRECT], state_file=str(state_file) if state_file else None, **changes
    )


def _get(sandbox: SandboxServer, route: str, token: str, **query: str) -> dict[str, Any]:
    response = httpx.get(sandbox.api_base_url + route, params=query, headers={"Access-Token": token}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _post(sandbox: SandboxServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(sandbox.base_url + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _exchange(sandbox: SandboxServer, code: str) -> dict[str, Any]:
    body = {"app_id": sandbox.world.app.app_id, "secret": sandbox.world.app.app_secret, "auth_code": code}
    return _post(sandbox, "/open_api/v1.3/oauth2/access_token/", body)


def _members(sandbox: SandboxServer, token: str, bc_id: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        data = _get(sandbox, "bc/member/get/", token, bc_id=bc_id, page=str(page), page_size="20")["data"]
        found.update({m["user_email"]: m for m in data["list"]})
        if page >= data["page_info"]["total_page"]:
            return found
        page += 1


def _before_restart(state_file: Path) -> dict[str, str]:
    """Authorise through the portal, obtain tokens, change members, revoke a token; stop the sandbox."""
    with SandboxServer(_config(state_file)) as sandbox:
        partner = sandbox.world.partners[2]
        code = obtain_auth_code(
            sandbox.base_url, sandbox.world.app.app_id, REDIRECT, partner.monitor_email, "sandbox-pass"
        )
        token = _exchange(sandbox, code)["data"]["access_token"]
        doomed = sandbox.world.issue_token(CUSTOMER_ADMIN)
        _post(
            sandbox,
            "/sandbox/control/members/add",
            {"bc_id": partner.bc_id, "user_email": "new.hire@elsewhere.example", "user_role": "ADMIN"},
        )
        _post(
            sandbox,
            "/sandbox/control/members/update",
            {"bc_id": partner.bc_id, "user_email": partner.monitor_email, "finance_role": "MANAGER"},
        )
        _post(sandbox, "/sandbox/control/tokens/revoke", {"access_token": doomed})
        before = _members(sandbox, token, partner.bc_id)
        spare = sandbox.world.issue_auth_code(sandbox.world.user_id(CUSTOMER_ADMIN), sandbox.world.app.app_id, REDIRECT)
    assert before["new.hire@elsewhere.example"]["user_role"] == "ADMIN"
    return {
        "bc_id": partner.bc_id,
        "token": token,
        "doomed": doomed,
        "used_code": code,
        "spare_code": spare,
        "new_user_id": before["new.hire@elsewhere.example"]["user_id"],
        "monitor": partner.monitor_email,
    }


def test_a_restart_with_the_same_state_file_keeps_tokens_codes_and_control_changes(tmp_path: Path) -> None:
    state_file = tmp_path / "data" / "sandbox-state.json"
    was = _before_restart(state_file)
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600  # it holds access tokens

    with SandboxServer(_config(state_file)) as sandbox:
        members = _members(sandbox, was["token"], was["bc_id"])  # the token still works
        assert members["new.hire@elsewhere.example"]["user_id"] == was["new_user_id"]
        assert members[was["monitor"]]["ext_user_role"] == {"finance_role": "MANAGER"}
        assert _get(sandbox, "bc/get/", was["doomed"])["code"] == 40105  # still revoked
        assert "has been used" in _exchange(sandbox, was["used_code"])["message"]
        assert _exchange(sandbox, was["spare_code"])["code"] == 0  # an unused code stays redeemable
        restored = json.loads(state_file.read_text())["state"]
        _post(sandbox, "/sandbox/control/reset", {})  # the control API's reset is kept too
    assert json.loads(state_file.read_text())["state"]["member_changes"] == []
    assert restored["member_changes"]

    with SandboxServer(_config(state_file)) as sandbox:
        assert _get(sandbox, "bc/get/", was["token"])["code"] == 40105


def test_reset_or_another_world_starts_from_the_seed(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    was = _before_restart(state_file)
    seeded = SandboxServer(_config(None)).world.to_json()

    with SandboxServer(_config(state_file, seed=8)) as other:  # another seed: the file is not applied
        assert other.world.token(was["token"]) is None
    with SandboxServer(_config(state_file, reset_state=True)) as sandbox:
        assert sandbox.world.token(was["token"]) is None
        assert sandbox.world.to_json() == seeded  # same seed, same world
    with SandboxServer(_config(state_file)) as sandbox:  # the reset was written to the file
        assert sandbox.world.token(was["token"]) is None


def test_without_a_state_file_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sandbox = SandboxServer(_config(None))
    sandbox.world.issue_token(CUSTOMER_ADMIN)
    assert sandbox.world.on_change is None
    assert list(tmp_path.iterdir()) == []


def test_command_line_state_file_and_reset() -> None:
    config = config_from_args(parse_args(["--state-file", "data/sandbox-state.json", "--reset"]))
    assert (config.state_file, config.reset_state) == ("data/sandbox-state.json", True)
    assert config_from_args(parse_args([])).state_file is None
