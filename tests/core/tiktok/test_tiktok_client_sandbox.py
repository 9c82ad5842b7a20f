"""TikTokClient against the real sandbox: endpoints, paging, error classes, retries, faults and rate limits."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from core.tiktok.client import TikTokClient
from core.tiktok.endpoints import PARTNER_ASSET_GET
from core.tiktok.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    RetriesExhaustedError,
    TikTokError,
    TokenRejectedError,
    TransportError,
)
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.transport import ClientConfig, RetryEvent
from sandbox.server import SandboxConfig, SandboxServer

ADMIN = "admin@acme.example"


def make_client(
    server: SandboxServer,
    *,
    limiter: TokenBucket | None = None,
    events: list[RetryEvent] | None = None,
    **overrides: Any,
) -> TikTokClient:
    settings = {
        "timeout_s": 5,
        "max_attempts": 4,
        "backoff_base_s": 0.02,
        "backoff_cap_s": 0.1,
        "throttle_penalty_s": 0.1,
        **overrides,
    }
    config = ClientConfig(server.api_base_url, server.config.app_id, server.config.app_secret, **settings)
    return TikTokClient(
        config, limiter or TokenBucket(1000, burst=1000), on_retry=events.append if events is not None else None
    )


def run(client: TikTokClient, fn: Callable[[TikTokClient], Any]) -> Any:
    async def go() -> Any:
        async with client:
            return await fn(client)

    return asyncio.run(go())


def control(server: SandboxServer, action: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(f"{server.base_url}/sandbox/control/{action}", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def world(sandbox: SandboxServer) -> dict[str, Any]:
    return httpx.get(sandbox.base_url + "/sandbox/world", timeout=5).json()


@pytest.fixture
def admin_token(sandbox: SandboxServer) -> str:
    return sandbox.world.issue_token(ADMIN)


def bc_of(world: dict[str, Any], bc_id: str) -> dict[str, Any]:
    return next(bc for bc in world["business_centers"] if bc["bc_info"]["bc_id"] == bc_id)


def partner(world: dict[str, Any], **match: Any) -> dict[str, Any]:
    return next(p for p in world["partners"] if all(p[k] == v for k, v in match.items()))


# -- endpoints and paging ---------------------------------------------------------------------------


def test_get_bcs_lists_the_customer_bc_with_string_ids(
    sandbox: SandboxServer, world: dict[str, Any], admin_token: str
) -> None:
    client = make_client(sandbox)
    bcs = run(client, lambda c: c.get_bcs(admin_token))
    assert [(b["bc_info"]["bc_id"], b["bc_info"]["name"], b["user_role"]) for b in bcs] == [
        (world["customer"]["bc_id"], "Acme Retail Group", "ADMIN")
    ]
    assert client.stats.requests == 1
    assert client.stats.by_code == {0: 1}


def test_get_partners_matches_the_world(sandbox: SandboxServer, world: dict[str, Any], admin_token: str) -> None:
    listed = run(make_client(sandbox), lambda c: c.get_partners(admin_token, world["customer"]["bc_id"]))
    assert sorted((p["bc_id"], p["bc_name"]) for p in listed) == sorted(
        (p["bc_id"], p["name"]) for p in world["partners"]
    )


def _without_nulls(items: list[dict]) -> list[dict]:
    """The listed members as /sandbox/world dumps them (it leaves out what the API answers as null)."""
    return [{k: v for k, v in item.items() if v is not None} for item in items]


def test_get_members_reads_every_page_of_20(sandbox: SandboxServer, world: dict[str, Any]) -> None:
    target = partner(world, monitor_role="ADMIN", eligible=True)
    token = sandbox.world.issue_token(target["monitor_email"])
    client = make_client(sandbox)
    members = run(client, lambda c: c.get_members(token, target["bc_id"]))
    expected = bc_of(world, target["bc_id"])["members"]
    assert len(expected) > 40
    assert _without_nulls(members) == expected
    assert any(m["user_id"] is None and m["user_name"] is None for m in members)  # PENDING invitees: e-mail only
    assert client.stats.requests == -(-len(expected) // 20)


def test_get_members_with_filtering_and_an_empty_result(sandbox: SandboxServer, world: dict[str, Any]) -> None:
    target = partner(world, monitor_role="ADMIN", eligible=True)
    token = sandbox.world.issue_token(target["monitor_email"])
    client = make_client(sandbox)
    pending = run(client, lambda c: c.get_members(token, target["bc_id"], {"relation_status": "PENDING"}))
    assert pending
    assert {m["relation_status"] for m in pending} == {"PENDING"}
    nobody = run(client, lambda c: c.get_members(token, target["bc_id"], {"keyword": "no-such-person-xyz"}))
    assert nobody == []


def test_page_size_above_the_endpoint_max_is_a_40002(sandbox: SandboxServer, world: dict[str, Any]) -> None:
    target = partner(world, monitor_role="ADMIN", eligible=True)
    token = sandbox.world.issue_token(target["monitor_email"])
    client = make_client(sandbox)
    with pytest.raises(InvalidRequestError) as info:
        run(client, lambda c: c.list_all("bc/member/get/", {"bc_id": target["bc_id"]}, token, page_size=21))
    assert info.value.code == 40002
    assert client.stats.requests == 1


def test_get_partner_assets_both_ways_matches_the_shares(
    sandbox: SandboxServer, world: dict[str, Any], admin_token: str
) -> None:
    customer = world["customer"]["bc_id"]
    target = partner(world, eligible=True, monitor_role="ADMIN")

    async def every_listing(c: TikTokClient) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for share_type in ("SHARING", "SHARED"):
            for asset_type in PARTNER_ASSET_GET.asset_types:
                items = await c.get_partner_assets(admin_token, customer, target["bc_id"], asset_type, share_type)
                found |= {(i["asset_id"], share_type) for i in items}
        return found

    expected = {
        (s["asset_id"], "SHARING" if s["owner_bc_id"] == customer else "SHARED")
        for s in world["shares"]
        if target["bc_id"] in (s["owner_bc_id"], s["partner_bc_id"])
    }
    assert expected
    assert run(make_client(sandbox), every_listing) == expected


def test_not_eligible_partner_has_no_assets(sandbox: SandboxServer, world: dict[str, Any], admin_token: str) -> None:
    target = partner(world, eligible=False)
    items = run(
        make_client(sandbox),
        lambda c: c.get_partner_assets(
            admin_token, world["customer"]["bc_id"], target["bc_id"], "ADVERTISER", "SHARING"
        ),
    )
    assert items == []


def test_get_asset_members_and_authorized_advertisers(
    sandbox: SandboxServer, world: dict[str, Any], admin_token: str
) -> None:
    customer = bc_of(world, world["customer"]["bc_id"])
    assigned = customer["assignments"][0]
    advertisers_in_bc = {a["asset_id"] for a in customer["assets"] if a["asset_type"] == "ADVERTISER"}
    assert assigned["asset_id"] in advertisers_in_bc

    async def both(c: TikTokClient) -> tuple[list[dict], list[dict]]:
        members = await c.get_asset_members(
            admin_token, customer["bc_info"]["bc_id"], "ADVERTISER", assigned["asset_id"]
        )
        app = {"app_id": c.config.app_id, "secret": c.config.app_secret}
        return members, (await c.get("oauth2/advertiser/get/", app, admin_token))["list"]

    members, advertisers = run(make_client(sandbox), both)
    assert {(m["user_id"], m["advertiser_role"]) for m in members} == {
        (m["key"], m["role"]) for m in assigned["members"]
    }
    assert advertisers_in_bc <= {a["advertiser_id"] for a in advertisers}


# -- error classes (no retry) -----------------------------------------------------------------------


def test_standard_member_gets_40001_without_retry(sandbox: SandboxServer, world: dict[str, Any]) -> None:
    target = partner(world, monitor_role="STANDARD")
    token = sandbox.world.issue_token(target["monitor_email"])
    events: list[RetryEvent] = []
    client = make_client(sandbox, events=events)
    with pytest.raises(PermissionDeniedError) as info:
        run(client, lambda c: c.get_members(token, target["bc_id"]))
    assert (info.value.code, info.value.path) == (40001, "bc/member/get/")
    assert info.value.request_id
    assert events == []
    assert client.stats.requests == 1


def test_missing_parameter_is_40002(sandbox: SandboxServer, admin_token: str) -> None:
    with pytest.raises(InvalidRequestError, match="bc_id") as info:
        run(make_client(sandbox), lambda c: c.get("bc/partner/get/", {}, admin_token))
    assert info.value.code == 40002


def test_revoked_and_missing_tokens_are_rejected(sandbox: SandboxServer, admin_token: str) -> None:
    control(sandbox, "tokens/revoke", access_token=admin_token)
    client = make_client(sandbox)
    with pytest.raises(TokenRejectedError) as revoked:
        run(client, lambda c: c.get_bcs(admin_token))
    with pytest.raises(TokenRejectedError) as missing:
        run(client, lambda c: c.get_bcs(""))
    assert (revoked.value.code, missing.value.code) == (40105, 40104)
    assert revoked.value.message == "Access token is incorrect or has been revoked."
    assert client.stats.requests == 2


def test_unknown_path_is_a_404_transport_error_without_retry(sandbox: SandboxServer, admin_token: str) -> None:
    client = make_client(sandbox)
    with pytest.raises(TransportError, match="HTTP 404") as info:
        run(client, lambda c: c.get("bc/unknown/", {}, admin_token))
    assert info.value.http_status == 404
    assert client.stats.requests == 1


@pytest.mark.parametrize(
    ("code", "cls"), [(40001, PermissionDeniedError), (40002, InvalidRequestError), (40105, TokenRejectedError)]
)
def test_injected_final_codes_are_not_retried(
    sandbox: SandboxServer, admin_token: str, code: int, cls: type[TikTokError]
) -> None:
    control(sandbox, "faults", route="bc/get/", code=code, count=3)
    client = make_client(sandbox)
    with pytest.raises(cls):
        run(client, lambda c: c.get_bcs(admin_token))
    assert client.stats.requests == 1
    assert httpx.get(f"{sandbox.base_url}/sandbox/control/faults").json()["faults"][0]["count"] == 2


# -- retries ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"code": 40100},
        {"code": 50000},
        {"code": 51004},
        {"code": 50002},
        {"http_status": 504},
        {"http_status": 500},
        {"malformed": True},
        {"hang_seconds": 1.0},
    ],
    ids=["40100", "50000", "51004", "50002", "http504", "http500", "malformed", "hang"],
)
def test_transient_faults_are_retried(sandbox: SandboxServer, admin_token: str, fault: dict[str, Any]) -> None:
    control(sandbox, "faults", route="bc/get/", count=2, **fault)
    events: list[RetryEvent] = []
    client = make_client(sandbox, events=events, timeout_s=0.4)
    bcs = run(client, lambda c: c.get_bcs(admin_token))
    assert len(bcs) == 1
    expected_code = fault.get("code", -1)
    assert [(e.attempt, e.error.code, e.path) for e in events] == [
        (1, expected_code, "bc/get/"),
        (2, expected_code, "bc/get/"),
    ]
    assert all(0 <= e.delay_s <= 0.1 for e in events)
    assert (client.stats.requests, client.stats.retries) == (3, 2)
    assert client.stats.throttled == (2 if expected_code == 40100 else 0)


def test_gives_up_after_max_attempts(sandbox: SandboxServer, admin_token: str) -> None:
    control(sandbox, "faults", route="bc/get/", code=50000, count=10)
    client = make_client(sandbox, max_attempts=3)
    with pytest.raises(RetriesExhaustedError) as info:
        run(client, lambda c: c.get_bcs(admin_token))
    assert (info.value.attempts, info.value.code) == (3, 50000)
    assert info.value.last_error.message == "System error."
    assert "gave up after 3 attempts" in str(info.value)


def test_a_fault_in_the_middle_of_paging_is_retried(sandbox: SandboxServer, world: dict[str, Any]) -> None:
    target = partner(world, monitor_role="ADMIN", eligible=True)
    token = sandbox.world.issue_token(target["monitor_email"])

    async def members_with_fault(c: TikTokClient) -> list[dict]:
        pages = []
        async for page in c.iter_pages("bc/member/get/", {"bc_id": target["bc_id"]}, token, page_size=20):
            pages.append(page)
            if len(pages) == 1:
                control(sandbox, "faults", route="bc/member/get/", http_status=504)
        return [m for p in pages for m in p]

    members = run(make_client(sandbox), members_with_fault)
    assert _without_nulls(members) == bc_of(world, target["bc_id"])["members"]


# -- rate limits ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxServer]:
    """A sandbox enforcing 20 QPS (and a QPM that does not get in the way)."""
    server = SandboxServer(SandboxConfig(qps=20, qpm=100_000)).start()
    yield server
    server.stop()


def burst_of_calls(server: SandboxServer, limiter: TokenBucket, n: int, **overrides: Any) -> TikTokClient:
    server.reset()
    token = server.world.issue_token(ADMIN)
    client = make_client(server, limiter=limiter, **overrides)

    async def calls(c: TikTokClient) -> None:
        results = await asyncio.gather(*(c.get_bcs(token) for _ in range(n)))
        assert all(len(r) == 1 for r in results)

    run(client, calls)
    return client


def test_bucket_keeps_30_concurrent_calls_under_the_qps(slow_sandbox: SandboxServer) -> None:
    start = time.monotonic()
    client = burst_of_calls(slow_sandbox, TokenBucket(20), 30)
    assert client.stats.throttled == 0
    assert client.stats.requests == 30
    assert time.monotonic() - start >= (30 - 10) / 20 - 0.05  # burst 10, then 20/s


def test_without_the_bucket_40100s_are_retried_until_all_succeed(slow_sandbox: SandboxServer) -> None:
    client = burst_of_calls(
        slow_sandbox, TokenBucket(10_000, burst=10_000), 30, max_attempts=12, throttle_penalty_s=0.1
    )
    assert client.stats.throttled > 0
    assert client.stats.by_code[0] == 30
    assert client.stats.requests == 30 + client.stats.throttled


def test_one_bucket_shared_by_two_threads_with_their_own_loops(slow_sandbox: SandboxServer) -> None:
    slow_sandbox.reset()
    limiter = TokenBucket(20)
    token = slow_sandbox.world.issue_token(ADMIN)
    clients = [make_client(slow_sandbox, limiter=limiter) for _ in range(2)]

    def worker(client: TikTokClient) -> None:
        async def calls(c: TikTokClient) -> None:
            await asyncio.gather(*(c.get_bcs(token) for _ in range(15)))

        run(client, calls)

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c.stats.by_code[0] for c in clients] == [15, 15]
    assert sum(c.stats.throttled for c in clients) == 0
