"""Fault matrix: every fault the sandbox can inject ends the Check for updates `Completed` (transient: the
client retried through it) or `Not completed` with the right reason, and what was synced before is intact."""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from core.accounts import integration, partners
from core.services import Services
from core.sync import check_for_updates
from core.tasks import jobs
from core.tiktok.client import TikTokClient
from sandbox.server import SandboxServer
from tests.support.compare import content
from tests.support.sandbox import control, monitored_partners
from tests.support.services import ADMIN_ACTOR

PARTNER_LIST = "bc/partner/get/"
MEMBERS = "bc/member/get/"
FAULTS = {
    "40100 burst": ({"code": 40100}, "40100"),
    "40016": ({"code": 40016}, "40016"),
    "50000": ({"code": 50000}, "50000"),
    "50002": ({"code": 50002}, "50002"),
    "51004": ({"code": 51004, "message": "RPC error"}, "51004"),
    "HTTP 500 non-JSON": ({"http_status": 500}, "HTTP 500"),
    "HTTP 504 non-JSON": ({"http_status": 504}, "HTTP 504"),
    "malformed JSON": ({"malformed": True}, "non-JSON response body"),
}
HANG = {"hang_seconds": 2.5}
TIMEOUT_ENV = {"PW_HTTP_TIMEOUT": "1"}  # small, yet roomy for 100 concurrent calls on 2 cores


def _attempts(svc: Services, n: int) -> None:
    config = dataclasses.replace(svc.client_config(), max_attempts=n)
    svc.client_config = lambda: config  # type: ignore[method-assign]


def _sync(svc: Services, partner_bc_id: str | None = None) -> tuple[str, str]:
    task_id = check_for_updates.request(svc, actor=ADMIN_ACTOR, partner_bc_id=partner_bc_id)
    status = svc.runner.wait(task_id, timeout=90)
    task = jobs.list_tasks(svc.store).set_index("id").loc[task_id]
    return status, str(task["error"] or "")


def _inject(sandbox: SandboxServer, route: str, fault: dict, count: int) -> None:
    control(sandbox, "faults", route=route, count=count, **fault)


def _pending(sandbox: SandboxServer) -> list:
    return httpx.get(f"{sandbox.base_url}/sandbox/control/faults", timeout=10).json()["faults"]


@pytest.mark.slow
def test_every_transient_fault_is_retried_to_completion(workspace_factory, sandbox):
    """All nine kinds, one after the other, on the partner list and on the member listings of one sync."""
    svc = workspace_factory(**TIMEOUT_ENV)
    _attempts(svc, len(FAULTS) + 3)
    before = content(svc.store)
    for fault, _ in [*FAULTS.values(), (HANG, "")]:
        _inject(sandbox, PARTNER_LIST, fault, count=1)
        _inject(sandbox, MEMBERS, fault, count=1)
    assert _sync(svc) == (jobs.COMPLETED, "")
    assert _pending(sandbox) == []  # every injected failure was hit and retried through
    after = content(svc.store)
    assert after["partners"] == before["partners"]
    assert after["members"] == before["members"]
    assert integration.get(svc.store).health == integration.HEALTHY


@pytest.mark.parametrize("name", [*FAULTS, "hang past the client timeout"])
def test_persistent_fault_on_the_partner_list_changes_nothing(name, workspace_factory, sandbox):
    fault, reason = FAULTS.get(name, (HANG, "no response within 1 s"))
    svc = workspace_factory(**(TIMEOUT_ENV if fault is HANG else {}))
    _attempts(svc, 3)
    before = content(svc.store)
    _inject(sandbox, PARTNER_LIST, fault, count=1000)
    status, error = _sync(svc)
    assert status == jobs.NOT_COMPLETED
    assert error.startswith("Could not read the partner list")
    assert reason in error
    assert "gave up after 3 attempts" in error
    assert content(svc.store) == before
    assert integration.get(svc.store).health == integration.SYNC_FAILED


@pytest.mark.parametrize("name", ["51004", "HTTP 504 non-JSON"])
def test_persistent_fault_on_members_fails_the_partner_jobs_and_keeps_their_data(name, onboarded, sandbox):
    fault, reason = FAULTS[name]
    _attempts(onboarded, 3)
    target = monitored_partners(sandbox)[0]
    before = content(onboarded.store)
    _inject(sandbox, MEMBERS, fault, count=10_000)
    status, error = _sync(onboarded, target.bc_id)
    assert status == jobs.NOT_COMPLETED
    assert "1 of 1 partners did not complete" in error
    assert reason in error
    assert content(onboarded.store) == before | {"partners": content(onboarded.store)["partners"]}
    assert partners.get(onboarded.store, target.bc_id).status == partners.SYNC_FAILED
    assert [r for r in content(onboarded.store)["partners"] if r[0] != target.bc_id] == [
        r for r in before["partners"] if r[0] != target.bc_id
    ]


class _RevokeMidPaging(httpx.AsyncHTTPTransport):
    """Serves as usual; once a multi-page member listing of `bc_id` has answered page 1, the monitor account's
    tokens are revoked at the sandbox, so page 2 gets 40105."""

    def __init__(self, sandbox: SandboxServer, bc_id: str, monitor_email: str) -> None:
        super().__init__()
        self.sandbox, self.bc_id, self.monitor_email = sandbox, bc_id, monitor_email
        self.fired = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        params = request.url.params
        if self.fired or not request.url.path.endswith(MEMBERS) or params.get("bc_id") != self.bc_id:
            return response
        await response.aread()
        info = json.loads(response.content).get("data", {}).get("page_info", {})
        if params.get("page") == "1" and info.get("total_page", 0) > 1:
            self.fired = True
            async with httpx.AsyncClient() as client:
                await client.post(
                    f"{self.sandbox.base_url}/sandbox/control/tokens/revoke", json={"user_email": self.monitor_email}
                )
        return response


def test_40105_in_the_middle_of_paging_marks_reconnect_and_keeps_the_partner(onboarded, sandbox):
    target = monitored_partners(sandbox)[0]
    transport = _RevokeMidPaging(sandbox, target.bc_id, target.monitor_email)
    onboarded.client = lambda on_retry=None: TikTokClient(  # type: ignore[method-assign]
        onboarded.client_config(), onboarded.limiter, on_retry=on_retry, transport=transport
    )
    before = content(onboarded.store)
    status, error = _sync(onboarded, target.bc_id)
    assert transport.fired
    assert status == jobs.NOT_COMPLETED
    assert "1 of 1 partners did not complete" in error
    assert "40105" in error
    assert partners.get(onboarded.store, target.bc_id).status == partners.RECONNECT_REQUIRED
    after = content(onboarded.store)
    assert after["members"] == before["members"]
    assert after["member_changes"] == before["member_changes"]
    assert integration.get(onboarded.store).health == integration.HEALTHY  # the customer token is fine


def test_revoked_customer_token_is_reconnect_required_and_changes_nothing(onboarded, sandbox):
    before = content(onboarded.store)
    control(sandbox, "tokens/revoke", user_email="admin@acme.example")
    status, error = _sync(onboarded)
    assert status == jobs.NOT_COMPLETED
    assert "TikTok rejected the Business Center connection (40105)" in error
    assert integration.get(onboarded.store).health == integration.RECONNECT_REQUIRED
    assert content(onboarded.store) == before
