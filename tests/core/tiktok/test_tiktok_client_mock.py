"""TikTokClient against httpx.MockTransport: envelope edge cases, encoding, retry policy and paging."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from core.tiktok.client import TikTokClient, run_sync
from core.tiktok.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    RetriesExhaustedError,
    TikTokError,
    TokenRejectedError,
    TransportError,
)
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.transport import RetryEvent, encode_params
from tests.support.tiktok_mock import BASE, SECRET, TOKEN, Handler, Script, Sleeps, call, make_client


def ok(data: Any, code: int = 0) -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": "OK", "request_id": "rid-ok", "data": data})


def fail(code: int, message: str = "nope") -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": message, "request_id": f"rid-{code}", "data": {}})


# -- envelope ---------------------------------------------------------------------------------------


def test_returns_data_with_ids_as_strings_even_beyond_2_pow_53() -> None:
    body = (
        b'{"code":0,"message":"OK","request_id":20240601123456010223,"data":{"list":[{"bc_id":'
        b'7100000000000000123,"user_ids":[9007199254740993],"bc_info":{"bc_id":"7100000000000000001"},'
        b'"count":3,"flag":true}]}}'
    )
    script = Script(httpx.Response(200, content=body))
    data = call(make_client(script), lambda c: c.get("bc/get/", {}, TOKEN))
    item = data["list"][0]
    assert item == {
        "bc_id": "7100000000000000123",
        "user_ids": ["9007199254740993"],
        "bc_info": {"bc_id": "7100000000000000001"},
        "count": 3,
        "flag": True,
    }


def test_partial_success_20001_is_success_and_counted() -> None:
    client = make_client(Script(ok({"list": [1]}, code=20001)))
    assert call(client, lambda c: c.get("bc/get/", {}, TOKEN)) == {"list": [1]}
    assert client.stats.by_code == {20001: 1}


def test_missing_data_on_success_is_an_empty_dict() -> None:
    script = Script(httpx.Response(200, json={"code": 0, "message": "OK", "request_id": "r"}))
    assert call(make_client(script), lambda c: c.get("bc/get/", {}, TOKEN)) == {}


@pytest.mark.parametrize(
    ("response", "needle"),
    [
        (httpx.Response(504, text="<html>Gateway Time-out</html>"), "HTTP 504"),
        (httpx.Response(200, text="<html>oops</html>"), "non-JSON"),
        (httpx.Response(200, content=b'{"code":0,"data":{"list":[{"bc_id":"71'), "non-JSON"),
        (httpx.Response(200, json=["not", "an", "envelope"]), "malformed envelope"),
        (httpx.Response(200, json={"code": "0", "data": {}}), "malformed envelope"),
        (httpx.Response(200, json={"code": 0, "data": [1, 2]}), "data is a list"),
    ],
)
def test_malformed_responses_are_transport_errors(response: httpx.Response, needle: str) -> None:
    client = make_client(Script(response), max_attempts=1)
    with pytest.raises(RetriesExhaustedError) as info:
        call(client, lambda c: c.get("bc/get/", {}, TOKEN))
    last = info.value.last_error
    assert isinstance(last, TransportError)
    assert last.code == -1
    assert needle in last.message
    assert client.stats.by_code == {-1: 1}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (40001, PermissionDeniedError),
        (40002, InvalidRequestError),
        (40105, TokenRejectedError),
        (40104, TokenRejectedError),
    ],
)
def test_non_retryable_codes_raise_at_once(code: int, cls: type[TikTokError]) -> None:
    script = Script(fail(code, "denied"))
    events: list[RetryEvent] = []
    client = make_client(script, events=events)
    with pytest.raises(cls) as info:
        call(client, lambda c: c.get("bc/member/get/", {"bc_id": "1"}, TOKEN))
    assert (info.value.code, info.value.message, info.value.request_id, info.value.path) == (
        code,
        "denied",
        f"rid-{code}",
        "bc/member/get/",
    )
    assert len(script.requests) == 1
    assert events == []


def test_http_404_is_not_retried() -> None:
    script = Script(httpx.Response(404, text="404 page not found"))
    with pytest.raises(TransportError, match="HTTP 404"):
        call(make_client(script), lambda c: c.get("bc/nope/", {}, TOKEN))
    assert len(script.requests) == 1


# -- request encoding -------------------------------------------------------------------------------


def test_get_sends_header_and_encodes_params_once() -> None:
    script = Script(ok({}))
    params = {
        "bc_id": "7100000000000000001",
        "filtering": {"keyword": "acmé", "user_role": "ADMIN"},
        "ids": ["1", "2"],
        "page": 2,
        "flag": True,
        "skipped": None,
        "pre": '{"a":1}',
    }
    call(make_client(script), lambda c: c.get("bc/member/get/", params, TOKEN))
    request = script.requests[0]
    assert request.method == "GET"
    assert str(request.url).startswith(BASE + "bc/member/get/?")
    assert request.headers["Access-Token"] == TOKEN
    assert "authorization" not in request.headers
    assert dict(request.url.params) == {
        "bc_id": "7100000000000000001",
        "filtering": '{"keyword":"acmé","user_role":"ADMIN"}',
        "ids": '["1","2"]',
        "page": "2",
        "flag": "true",
        "pre": '{"a":1}',
    }


def test_post_sends_json_body_and_optional_token() -> None:
    script = Script(ok({"done": True}))
    data = call(make_client(script), lambda c: c.post("bc/member/invite/", {"bc_id": "1", "emails": ["a@b"]}))
    request = script.requests[0]
    assert data == {"done": True}
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert "Access-Token" not in request.headers
    assert json.loads(request.content) == {"bc_id": "1", "emails": ["a@b"]}


@pytest.mark.parametrize("path", ["bc/get", "bc/get/?page=2"])
def test_paths_must_end_with_a_slash(path: str) -> None:
    with pytest.raises(ValueError, match="end with"):
        call(make_client(Script(ok({}))), lambda c: c.get(path, {}, TOKEN))


def test_encode_params_drops_none_and_rejects_unserialisable_values() -> None:
    assert encode_params({"a": None, "b": "x"}) == {"b": "x"}
    with pytest.raises(TypeError):
        encode_params({"a": object()})


def test_calls_outside_async_with_are_refused() -> None:
    client = make_client(Script(ok({})))
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(client.get("bc/get/", {}, TOKEN))


def test_client_can_be_reopened_in_another_event_loop() -> None:
    script = Script(ok({"n": 1}))
    client = make_client(script)
    for _ in range(2):
        assert call(client, lambda c: c.get("bc/get/", {}, TOKEN)) == {"n": 1}
    assert len(script.requests) == 2


# -- retries ----------------------------------------------------------------------------------------


def test_retries_throttling_and_system_errors_then_succeeds() -> None:
    script = Script(
        fail(40100, "App reaches the QPS limit."), fail(50000, "System error."), fail(51004), ok({"list": ["x"]})
    )
    events: list[RetryEvent] = []
    sleeps = Sleeps()
    client = make_client(script, events=events, sleep=sleeps, max_attempts=6)
    assert call(client, lambda c: c.get("bc/partner/get/", {"bc_id": "1"}, TOKEN)) == {"list": ["x"]}
    assert [(e.path, e.attempt, e.error.code) for e in events] == [
        ("bc/partner/get/", 1, 40100),
        ("bc/partner/get/", 2, 50000),
        ("bc/partner/get/", 3, 51004),
    ]
    assert sleeps.delays == [e.delay_s for e in events]
    caps = [0.1, 0.2, 0.3]  # base 0.1 doubling, capped at 0.3
    assert all(0 <= d <= cap for d, cap in zip(sleeps.delays, caps, strict=True))
    assert (client.stats.requests, client.stats.retries, client.stats.throttled) == (4, 3, 1)
    assert client.stats.by_code == {40100: 1, 50000: 1, 51004: 1, 0: 1}


def test_throttling_penalizes_the_shared_bucket() -> None:
    limiter = TokenBucket(1000, burst=1000)
    penalties: list[float] = []
    limiter.penalize = penalties.append  # type: ignore[method-assign]
    client = make_client(Script(fail(40100), ok({})), limiter=limiter, throttle_penalty_s=0.7)
    call(client, lambda c: c.get("bc/get/", {}, TOKEN))
    assert penalties == [0.7]


def test_limiter_is_awaited_before_every_attempt() -> None:
    class CountingBucket(TokenBucket):
        calls = 0

        async def acquire_async(self) -> None:
            CountingBucket.calls += 1

    client = make_client(Script(fail(50002), fail(40016), ok({})), limiter=CountingBucket(1))
    call(client, lambda c: c.get("bc/get/", {}, TOKEN))
    assert CountingBucket.calls == 3


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    script = Script(fail(40100), fail(50000), fail(50002))
    client = make_client(script, max_attempts=3)
    with pytest.raises(RetriesExhaustedError) as info:
        call(client, lambda c: c.get("bc/get/", {}, TOKEN))
    assert info.value.attempts == 3
    assert info.value.last_error.code == 50002
    assert info.value.__cause__ is info.value.last_error
    assert len(script.requests) == 3


def test_http_5xx_and_malformed_json_are_retried() -> None:
    script = Script(
        httpx.Response(504, text="Gateway Time-out"),
        httpx.Response(500, json={"x": 1}),
        httpx.Response(200, text="{broken"),
        ok({"fine": 1}),
    )
    client = make_client(script)
    assert call(client, lambda c: c.get("bc/get/", {}, TOKEN)) == {"fine": 1}
    assert client.stats.by_code == {-1: 3, 0: 1}


def test_hanging_server_times_out_and_is_retried() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return ok({})

    script = Script(hang, ok({"after": "timeout"}))
    events: list[RetryEvent] = []
    client = make_client(script, events=events, timeout_s=0.2)
    assert call(client, lambda c: c.get("bc/get/", {}, TOKEN)) == {"after": "timeout"}
    assert isinstance(events[0].error, TransportError)
    assert "no response within 0.2 s" in str(events[0].error)


def test_connection_errors_are_transport_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client = make_client(Script(refuse), max_attempts=2)
    with pytest.raises(RetriesExhaustedError) as info:
        call(client, lambda c: c.get("bc/get/", {}, TOKEN))
    assert info.value.last_error.message == "ConnectError: [Errno 111] Connection refused"


def test_secret_and_token_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(fail(40100), ok({"list": [{"advertiser_id": "1"}]}))
    params = {"app_id": "7100000000000000000", "secret": SECRET}
    data = call(make_client(script), lambda c: c.get("oauth2/advertiser/get/", params, TOKEN))
    assert data["list"] == [{"advertiser_id": "1"}]
    assert dict(script.requests[0].url.params) == {"app_id": "7100000000000000000", "secret": SECRET}
    assert "oauth2/advertiser/get/" in caplog.text
    assert SECRET not in caplog.text
    assert TOKEN not in caplog.text


# -- pagination -------------------------------------------------------------------------------------


def item(n: int) -> dict:
    """Item `n`, with the fields every typed helper's shape check requires."""
    return {"n": n, "bc_id": str(n), "bc_info": {"bc_id": str(n)}, "asset_id": str(n), "user_id": str(n)}


def paged(total: int, *, never_ends: bool = False) -> Handler:
    """A server with `total` numbered items; `never_ends` keeps claiming more pages and repeating items."""

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["page_size"])
        items = [item(n) for n in range((page - 1) * size, min(page * size, total))]
        total_page = -(-total // size)
        if never_ends:
            items, total_page = [item(0)], page + 1
        return ok(
            {
                "list": items,
                "page_info": {"page": page, "page_size": size, "total_number": total, "total_page": total_page},
            }
        )

    return handler


def test_list_all_reads_every_page() -> None:
    script = Script(paged(45))
    items = call(make_client(script), lambda c: c.list_all("bc/get/", {"page": 9}, TOKEN, page_size=20))
    assert [i["n"] for i in items] == list(range(45))
    assert [r.url.params["page"] for r in script.requests] == ["1", "2", "3"]


def test_iter_pages_yields_each_page() -> None:
    async def pages(c: TikTokClient) -> list[int]:
        return [len(p) async for p in c.iter_pages("bc/get/", {}, TOKEN, page_size=10)]

    assert call(make_client(Script(paged(25))), pages) == [10, 10, 5]


def test_empty_result_is_one_request() -> None:
    script = Script(ok({"list": [], "page_info": {"page": 1, "page_size": 50, "total_number": 0, "total_page": 0}}))
    assert call(make_client(script), lambda c: c.get_bcs(TOKEN)) == []
    assert len(script.requests) == 1


def test_stops_on_an_empty_page_without_page_info() -> None:
    script = Script(ok({"list": [item(1)]}), ok({"list": [item(2)]}), ok({"list": []}))
    assert call(make_client(script), lambda c: c.get_bcs(TOKEN)) == [item(1), item(2)]
    assert len(script.requests) == 3


def test_a_server_that_never_ends_is_capped_by_total_number() -> None:
    script = Script(paged(45, never_ends=True))
    items = call(make_client(script), lambda c: c.list_all("bc/get/", {}, TOKEN, page_size=20))
    assert len(items) == 3
    assert len(script.requests) == 3


def page_of(
    request: httpx.Request, items: list[dict], total_page: int | None, total_number: int | None = None
) -> httpx.Response:
    info = {
        "page": int(request.url.params["page"]),
        "page_size": int(request.url.params["page_size"]),
        "total_page": total_page,
        "total_number": total_number,
    }
    return ok({"list": items, "page_info": {k: v for k, v in info.items() if v is not None}})


def test_list_all_requests_later_pages_at_once_and_keeps_page_order() -> None:
    serve, in_flight, peak = paged(200), 0, 0

    async def later_pages_answer_first(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002 * (11 - int(request.url.params["page"])))
        in_flight -= 1
        return serve(request)

    script = Script(later_pages_answer_first)
    items = call(make_client(script, page_window=4), lambda c: c.list_all("bc/get/", {}, TOKEN, page_size=20))
    assert [i["n"] for i in items] == list(range(200))
    assert sorted(int(r.url.params["page"]) for r in script.requests) == list(range(1, 11))
    assert peak == 4


def _listing_that_shrinks(request: httpx.Request) -> httpx.Response:
    """Page 1 promises 5 pages of 20; by page 2 the listing has shrunk to 2 pages (pages 3-5 still answer)."""
    page = int(request.url.params["page"])
    if page == 1:
        return page_of(request, [item(n) for n in range(20)], 5, 100)
    return page_of(request, [item(100 + page)], 2, 21)


def _listing_with_an_empty_page(request: httpx.Request) -> httpx.Response:
    page = int(request.url.params["page"])
    return page_of(request, [] if page == 3 else [item(page)], 5, 100)


def _listing_that_grows(request: httpx.Request) -> httpx.Response:
    """No total_number; page 1 says 2 pages, page 2 says 4."""
    page = int(request.url.params["page"])
    return page_of(request, [item(page)], 2 if page == 1 else 4)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (_listing_that_shrinks, [*range(20), 102]),
        (_listing_with_an_empty_page, [1, 2]),
        (_listing_that_grows, [1, 2, 3, 4]),
    ],
)
def test_list_all_reads_what_page_by_page_reading_reads_when_the_listing_changes(server, expected) -> None:
    async def page_by_page(c: TikTokClient) -> list[dict]:
        return [i async for page in c.iter_pages("bc/get/", {}, TOKEN, page_size=20) for i in page]

    windowed_items = call(
        make_client(Script(server), page_window=4), lambda c: c.list_all("bc/get/", {}, TOKEN, page_size=20)
    )
    assert [i["n"] for i in windowed_items] == expected
    assert call(make_client(Script(server), page_window=1), page_by_page) == windowed_items


def test_a_failed_page_past_the_end_is_discarded_but_a_needed_one_raises(caplog) -> None:
    def page_2_empty_page_3_fails(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return fail(40001) if page == 3 else page_of(request, [item(page)] if page == 1 else [], 5, 100)

    assert call(
        make_client(Script(page_2_empty_page_3_fails), page_window=4),
        lambda c: c.list_all("bc/get/", {}, TOKEN, page_size=20),
    ) == [item(1)]
    assert "never retrieved" not in caplog.text

    def page_2_fails(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return fail(40001) if page == 2 else page_of(request, [item(page)], 5, 100)

    with pytest.raises(PermissionDeniedError):
        call(make_client(Script(page_2_fails), page_window=4), lambda c: c.list_all("bc/get/", {}, TOKEN, page_size=20))


@pytest.mark.parametrize(
    ("method", "args", "path", "size", "extra"),
    [
        ("get_bcs", (), "bc/get/", "50", {}),
        ("get_partners", ("71",), "bc/partner/get/", "50", {"bc_id": "71"}),
        (
            "get_partner_assets",
            ("71", "72", "DOMAIN", "SHARED"),
            "bc/partner/asset/get/",
            "50",
            {"bc_id": "71", "partner_id": "72", "asset_type": "DOMAIN", "share_type": "SHARED"},
        ),
        (
            "get_own_assets",
            ("71", "TT_ACCOUNT"),
            "bc/asset/admin/get/",
            "50",
            {"bc_id": "71", "asset_type": "TT_ACCOUNT", "filtering": '{"relation_type":"OWNER_BC"}'},
        ),
        (
            "get_asset_partners",
            ("71", "PIXEL", "7000000000000000002"),
            "bc/asset/partner/get/",
            "50",
            {"bc_id": "71", "asset_type": "PIXEL", "asset_id": "7000000000000000002"},
        ),
        (
            "get_members",
            ("71", {"relation_status": "PENDING"}),
            "bc/member/get/",
            "20",
            {"bc_id": "71", "filtering": '{"relation_status":"PENDING"}'},
        ),
        ("get_members", ("71",), "bc/member/get/", "20", {"bc_id": "71"}),
        (
            "get_asset_members",
            ("71", "ADVERTISER", "7000000000000000001"),
            "bc/asset/member/get/",
            "20",
            {"bc_id": "71", "asset_type": "ADVERTISER", "asset_id": "7000000000000000001"},
        ),
    ],
)
def test_typed_helpers_use_the_endpoint_max_page_size(
    method: str, args: tuple, path: str, size: str, extra: dict[str, str]
) -> None:
    script = Script(paged(3))
    items = call(make_client(script), lambda c: getattr(c, method)(TOKEN, *args))
    assert len(items) == 3
    request = script.requests[0]
    assert request.url.path == "/open_api/v1.3/" + path
    assert dict(request.url.params) == {**extra, "page": "1", "page_size": size}


@pytest.mark.parametrize(("asset_type", "share_type"), [("TIKTOK_ACCOUNT", "SHARED"), ("ADVERTISER", "BOTH")])
def test_partner_assets_rejects_unknown_enums(asset_type: str, share_type: str) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        call(make_client(Script(ok({}))), lambda c: c.get_partner_assets(TOKEN, "1", "2", asset_type, share_type))


@pytest.mark.parametrize(
    ("method", "args"),
    [
        *[
            ("get_partner_assets", ("1", "2", t, "SHARING"))
            for t in ("LEAD", "PIXEL", "STOREFRONT", "TIKTOK_SHOP", "TT_ACCOUNT")
        ],
        *[("get_asset_members", ("1", t, "3")) for t in ("DOMAIN", "PIXEL", "STOREFRONT", "TIKTOK_SHOP", "TT_ACCOUNT")],
        ("get_own_assets", ("1", "DOMAIN")),
        ("get_members", ("1", {"relation_status": "REJECT"})),
    ],
)
def test_asset_types_and_filters_an_endpoint_does_not_accept_are_never_sent(method: str, args: tuple) -> None:
    script = Script(ok({}))
    with pytest.raises(ValueError, match="must be one of"):
        call(make_client(script), lambda c: getattr(c, method)(TOKEN, *args))
    assert script.requests == []


# -- run_sync ---------------------------------------------------------------------------------------


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def test_run_sync_without_a_loop() -> None:
    assert run_sync(answer()) == 42


def test_run_sync_inside_a_running_loop_uses_a_helper_thread() -> None:
    async def outer() -> int:
        return run_sync(answer())

    assert asyncio.run(outer()) == 42
