"""The control API: members, token revocation, fault injection, latency, rate limits, reset, world dump."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.support.sandbox import partner


@pytest.fixture
def monitor(sandbox):
    info = partner(sandbox, 4)
    return info.bc_id, sandbox.world.issue_token(info.monitor_email)


def _control(http: httpx.Client, path: str, **body) -> httpx.Response:
    return http.post(f"/sandbox/control/{path}", json=body)


def _members(get, bc_id: str, token: str) -> list[dict]:
    return get("bc/member/get/", token, bc_id=bc_id, page_size=20, page=3)["data"]["list"]


def test_members_add_shows_up_in_member_get(http, get, monitor) -> None:
    bc_id, token = monitor
    added = _control(
        http,
        "members/add",
        bc_id=bc_id,
        user_email="New.Person@Example.com",
        user_name="Zoë Новая",
        user_role="ADMIN",
        finance_role="ANALYST",
    )
    assert added.status_code == 200
    member = added.json()["member"]
    assert member["user_email"] == "new.person@example.com"
    assert len(member["user_id"]) == 19
    assert member in _members(get, bc_id, token)
    invitee = _control(
        http, "members/add", bc_id=bc_id, user_email="invitee@example.com", relation_status="PENDING"
    ).json()["member"]
    assert set(invitee) == {"user_email", "user_role", "relation_status", "ext_user_role"}
    assert _control(http, "members/add", bc_id=bc_id, user_email="invitee@example.com").status_code == 409


def test_members_update_and_remove(http, get, sandbox, monitor) -> None:
    bc_id, token = monitor
    target = next(
        m
        for m in sandbox.world.members(bc_id)
        if m.relation_status == "BOUND" and m.user_role != "ADMIN" and "monitor@" not in m.user_email
    )
    updated = _control(
        http,
        "members/update",
        bc_id=bc_id,
        user_id=target.user_id,
        user_role="ADMIN",
        relation_status="UNBOUND",
        finance_role=None,
    ).json()["member"]
    assert (updated["user_role"], updated["relation_status"], updated["ext_user_role"]) == ("ADMIN", "UNBOUND", {})
    rows = get("bc/member/get/", token, bc_id=bc_id, filtering=f'{{"keyword": "{target.user_email}"}}')
    assert rows["data"]["list"] == [updated]
    removed = _control(http, "members/remove", bc_id=bc_id, user_email=target.user_email)
    assert removed.status_code == 200
    rows = get("bc/member/get/", token, bc_id=bc_id, filtering=f'{{"keyword": "{target.user_email}"}}')
    assert rows["data"]["list"] == []


def test_invitee_accepting_gets_a_user_id(http, sandbox, monitor) -> None:
    bc_id, _ = monitor
    invitee = next(m for m in sandbox.world.members(bc_id) if m.relation_status == "PENDING")
    bound = _control(
        http,
        "members/update",
        bc_id=bc_id,
        user_email=invitee.user_email,
        relation_status="BOUND",
        user_name="Now Joined",
    ).json()["member"]
    assert bound["user_id"]
    assert bound["user_name"] == "Now Joined"
    assert sandbox.world.authenticate(invitee.user_email, "sandbox-pass") == bound["user_id"]


def test_demoting_the_monitor_makes_member_get_40001(http, get, sandbox, monitor) -> None:
    bc_id, token = monitor
    email = partner(sandbox, 4).monitor_email
    assert _control(http, "members/update", bc_id=bc_id, user_email=email, user_role="STANDARD").status_code == 200
    assert get("bc/member/get/", token, bc_id=bc_id)["code"] == 40001


def test_control_input_errors(http, monitor) -> None:
    bc_id, _ = monitor
    assert _control(http, "members/add", bc_id=bc_id).status_code == 400
    assert _control(http, "members/add", bc_id=bc_id, user_email="a@b.c", user_role="OWNER").status_code == 400
    assert _control(http, "members/remove", bc_id=bc_id, user_email="nobody@x.example").status_code == 404
    assert _control(http, "members/remove", bc_id="1", user_email="nobody@x.example").status_code == 404
    assert _control(http, "members/update", bc_id=bc_id, user_email="nobody@x.example").status_code == 400
    assert http.post("/sandbox/control/reset", content=b"{oops").status_code == 400
    assert _control(http, "faults", route="bc/nothing/", code=50000).status_code == 400
    assert _control(http, "faults", route="bc/get/").status_code == 400


def test_tokens_revoke_by_token_and_by_email(http, get, sandbox) -> None:
    first = sandbox.world.issue_token("admin@acme.example")
    second = sandbox.world.issue_token("admin@acme.example")
    assert _control(http, "tokens/revoke", access_token=first).json()["revoked"] == 1
    assert get("bc/get/", first)["code"] == 40105
    assert get("bc/get/", second)["code"] == 0
    assert _control(http, "tokens/revoke", user_email="admin@acme.example").json()["revoked"] == 1
    assert get("bc/get/", second)["code"] == 40105


@pytest.mark.parametrize("code", [40100, 50000, 50002, 51004, 40105])
def test_body_code_fault_for_the_next_n_calls(http, get, admin_token, code) -> None:
    assert _control(http, "faults", route="/open_api/v1.3/bc/get/", code=code, count=2).status_code == 200
    answers = [get("bc/get/", admin_token) for _ in range(3)]
    assert [a["code"] for a in answers] == [code, code, 0]
    assert answers[0]["data"] == {}
    assert answers[0]["message"]


def test_fault_only_hits_its_route(http, get, admin_token, sandbox) -> None:
    _control(http, "faults", route="bc/member/get/", code=50000)
    assert get("bc/get/", admin_token)["code"] == 0
    assert get("bc/member/get/", admin_token, bc_id=sandbox.world.customer_bc_id)["code"] == 50000


@pytest.mark.parametrize("status", [500, 504])
def test_http_status_fault_has_a_non_json_body(http, api, admin_token, status) -> None:
    _control(http, "faults", route="bc/get/", http_status=status)
    response = api.get("bc/get/", headers={"Access-Token": admin_token})
    assert response.status_code == status
    assert not response.headers["content-type"].startswith("application/json")
    with pytest.raises(ValueError):
        response.json()
    assert api.get("bc/get/", headers={"Access-Token": admin_token}).status_code == 200


def test_malformed_body_fault(http, api, admin_token) -> None:
    _control(http, "faults", route="*", malformed=True)
    response = api.get("bc/get/", headers={"Access-Token": admin_token})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_hang_fault_times_the_client_out(http, api, admin_token) -> None:
    _control(http, "faults", route="bc/get/", hang_seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        api.get("bc/get/", headers={"Access-Token": admin_token}, timeout=0.3)
    assert api.get("bc/get/", headers={"Access-Token": admin_token}).json()["code"] == 0


def test_faults_list_and_clear(http) -> None:
    _control(http, "faults", route="bc/get/", code=50000, count=3)
    assert http.get("/sandbox/control/faults").json()["faults"] == [{"route": "bc/get/", "code": 50000, "count": 3}]
    _control(http, "faults/clear")
    assert http.get("/sandbox/control/faults").json()["faults"] == []


def test_latency_delays_calls_that_still_overlap(sandbox, http, admin_token) -> None:
    # The latency is long next to any scheduling noise, so "overlapped" is told apart from "served one
    # after another" (5 x 2 s) by a wide margin even on a loaded machine.
    assert _control(http, "latency", ms=2000).json()["latency_ms"] == 2000

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=sandbox.api_base_url, timeout=10) as client:
            calls = [client.get("bc/get/", headers={"Access-Token": admin_token}) for _ in range(5)]
            return [r.json()["code"] for r in await asyncio.gather(*calls)]

    started = time.monotonic()
    codes = asyncio.run(burst())
    elapsed = time.monotonic() - started
    assert codes == [0] * 5
    assert 2.0 <= elapsed < 5.0  # served one after another, the five would take at least 10 s


def test_reset_restores_world_and_clears_state(http, sandbox, admin_token) -> None:
    before = http.get("/sandbox/world").content
    bc_id = sandbox.world.customer_bc_id
    _control(http, "members/add", bc_id=bc_id, user_email="temp@acme.example")
    _control(http, "faults", route="bc/get/", code=50000)
    _control(http, "latency", ms=50)
    assert http.get("/sandbox/world").content != before
    assert _control(http, "reset").status_code == 200
    assert http.get("/sandbox/world").content == before
    assert sandbox.state.latency_ms == 0
    assert sandbox.state.faults.pending() == []
    assert sandbox.world.token(admin_token) is None
