"""TikTokClient: the project's one client of the TikTok API for Business (async, httpx).

One `httpx.AsyncClient` per `async with TikTokClient(...)` block. Every call:

- waits for the process-wide `TokenBucket` before each attempt;
- sends the token in the `Access-Token` header, GET parameters in the query string (objects and arrays
  JSON-encoded exactly once, ids as strings) and POST bodies as JSON;
- has a timeout (`ClientConfig.timeout_s`, for connecting and for the whole exchange);
- branches on the envelope `code`, never on the HTTP status of a 200, and keeps ids as strings;
- retries `RetryableError`s (throttling, system errors, HTTP 5xx, timeouts, malformed bodies) with capped
  exponential backoff and full jitter; a 40100 also `penalize`s the shared bucket so the whole app slows
  down. HTTP 4xx other than 408/425/429 (a wrong path or method) is raised at once, as is every
  non-retryable code. When the attempts run out, `RetriesExhaustedError` wraps the last error.

The typed helpers (`get_bcs`, `get_partners`, …) check each listed item's shape (`shapes.py`) and raise
`ResponseShapeError`, not retried, for a missing id or a field of the wrong type.

Pagination is 1-based (`page`, `page_size`, `data.page_info`) and stops on `page >= total_page`, an empty
`list`, or the page count implied by the first page's `total_number`, whichever comes first. `list_all`
(which the typed helpers use) requests up to `page_window` pages ahead once the length is known, and
assembles them in page order; `iter_pages` reads one page at a time.

Tokens and secrets are never logged: log lines carry paths, codes and request_ids, and the query string
is stripped from httpx's own request log lines (`oauth2/advertiser/get/` sends the app secret there).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import math
import random
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from core.tiktok import envelope, shapes
from core.tiktok.endpoints import ASSET_TYPES, ENDPOINTS, SHARE_TYPES
from core.tiktok.errors import (
    RetriesExhaustedError,
    RetryableError,
    TikTokError,
    TransportError,
)
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.shapes import JSONObject

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PAGE_SIZE = 50
MEMBER_PAGE_SIZE = 20
MAX_PAGES = 10_000  # absolute guard when a server reports no total_number
PAGE_WINDOW = 6  # pages of one listing in flight at once once its length is known (the token bucket sets the rate)
THROTTLED = 40100
_RETRYABLE_HTTP_4XX = frozenset({408, 425, 429})
_USER_AGENT = "PartnerWatch/0.1 (+httpx)"


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to reach TikTok; `throttle_penalty_s` is how long a 40100 pauses the whole app."""

    api_base_url: str
    app_id: str
    app_secret: str = field(repr=False)
    timeout_s: float = 20
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    throttle_penalty_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.backoff_base_s < 0 or self.backoff_cap_s < 0:
            raise ValueError("backoff values must not be negative")


@dataclass
class RetryEvent:
    """One failed attempt that will be retried after `delay_s` seconds."""

    path: str
    attempt: int
    delay_s: float
    error: TikTokError


@dataclass
class ClientStats:
    """Counters of one client: attempts sent, retries, 40100 answers, and outcomes by code (-1: transport)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    by_code: Counter[int] = field(default_factory=Counter)

    def record(self, code: int) -> None:
        self.by_code[code] += 1
        if code == THROTTLED:
            self.throttled += 1


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters as TikTok wants them: strings as they are, everything else JSON-encoded once."""
    return {
        key: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        for key, value in params.items()
        if value is not None
    }


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _should_retry(error: TikTokError) -> bool:
    if isinstance(error, TransportError) and error.http_status is not None and 400 <= error.http_status < 500:
        return error.http_status in _RETRYABLE_HTTP_4XX
    return error.retryable


class TikTokClient:
    """Async TikTok API client; use as `async with TikTokClient(config, limiter) as client: ...`."""

    def __init__(
        self,
        config: ClientConfig,
        limiter: TokenBucket,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_connections: int = 64,
        page_window: int = PAGE_WINDOW,
    ) -> None:
        self.config = config
        self.stats = ClientStats()
        self._limiter = limiter
        self._transport = transport
        self._on_retry = on_retry
        self._sleep = sleep
        self._max_connections = max_connections
        if page_window < 1:
            raise ValueError("page_window must be at least 1")
        self._page_window = page_window
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        if self._http is not None:
            raise RuntimeError("this TikTokClient is already open")
        self._http = httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(self.config.timeout_s),
            limits=httpx.Limits(max_connections=self._max_connections, max_keepalive_connections=self._max_connections),
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            follow_redirects=False,
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (the client can be opened again with `async with`)."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    # -- raw calls -----------------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, Any], token: str) -> JSONObject:
        """GET `path` (e.g. "bc/member/get/") and return the envelope's `data`."""
        return await self._call("GET", path, token, params=encode_params(params))

    async def post(self, path: str, body: Mapping[str, Any], token: str | None = None) -> JSONObject:
        """POST a JSON body to `path` and return `data` (retried like GET: only for idempotent writes)."""
        return await self._call("POST", path, token, content=json.dumps(body).encode())

    async def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> JSONObject:
        url = self._url(path)
        headers = self._headers(token, json_body=content is not None)
        attempt = 1
        while True:
            await self._limiter.acquire_async()
            try:
                return await self._attempt(method, url, path, headers, params, content)
            except RetryableError as err:
                if not _should_retry(err):
                    raise
                if attempt >= self.config.max_attempts:
                    raise RetriesExhaustedError(err, attempt) from err
                await self._back_off(path, attempt, err)
            attempt += 1

    async def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        headers: dict[str, str],
        params: dict[str, str] | None,
        content: bytes | None,
    ) -> JSONObject:
        self.stats.requests += 1
        try:
            response = await self._send(method, url, path, headers, params, content)
            code, data = envelope.unwrap_with_code(response.status_code, response.content, path)
        except TikTokError as err:
            self.stats.record(err.code)
            log.info("TikTok %s %s failed: code %s (request_id %s)", method, path, err.code, err.request_id)
            raise
        self.stats.record(code)
        return data

    async def _send(
        self,
        method: str,
        url: str,
        path: str,
        headers: dict[str, str],
        params: dict[str, str] | None,
        content: bytes | None,
    ) -> httpx.Response:
        timeout_s = self.config.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await self._open().request(method, url, params=params, content=content, headers=headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise TransportError(f"no response within {timeout_s:g} s", path) from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}".rstrip(": "), path) from exc

    async def _back_off(self, path: str, attempt: int, error: TikTokError) -> None:
        delay = self._delay(attempt)
        self.stats.retries += 1
        if error.code == THROTTLED:
            self._limiter.penalize(self.config.throttle_penalty_s)
        log.warning(
            "TikTok %s: attempt %d got code %s (request_id %s); retrying in %.2f s",
            path,
            attempt,
            error.code,
            error.request_id,
            delay,
        )
        if self._on_retry is not None:
            self._on_retry(RetryEvent(path, attempt, delay, error))
        await self._sleep(delay)

    def _delay(self, attempt: int) -> float:
        """Capped exponential backoff with full jitter: uniform(0, min(cap, base * 2^(attempt-1)))."""
        ceiling = min(self.config.backoff_cap_s, self.config.backoff_base_s * 2.0 ** min(attempt - 1, 60))
        return random.uniform(0.0, ceiling)

    def _open(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("use the TikTokClient inside `async with` before calling it")
        return self._http

    def _url(self, path: str) -> str:
        if not path.endswith("/") or "?" in path:
            raise ValueError(f"TikTok paths end with '/' and carry no query: {path!r}")
        return self.config.api_base_url.rstrip("/") + "/" + path.lstrip("/")

    @staticmethod
    def _headers(token: str | None, *, json_body: bool) -> dict[str, str]:
        headers = {"Access-Token": token} if token else {}
        if json_body:
            headers["Content-Type"] = "application/json"
        return headers

    # -- pagination ----------------------------------------------------------------------------------

    async def iter_pages(
        self, path: str, params: Mapping[str, Any], token: str, *, page_size: int
    ) -> AsyncIterator[list[JSONObject]]:
        """Yield each non-empty page's `list` from page 1 to the last, one request at a time (a `page` in
        params is ignored)."""
        page, cap = 1, MAX_PAGES
        while True:
            data = await self._get_page(path, params, token, page, page_size)
            items = self._page_items(data, path)
            if items:
                yield items
            info = self._page_info(data)
            if page == 1:
                cap = self._page_cap(info, page_size)
            if not items or self._last_page(info, page, cap, path):
                return
            page += 1

    async def list_all(self, path: str, params: Mapping[str, Any], token: str, *, page_size: int) -> list[JSONObject]:
        """Every item of every page, in page order: the pages `iter_pages` would read.

        Once a page tells how many there are (`total_page`, else page 1's `total_number`), up to
        `page_window` of the following pages are requested at once; pages are still read in order with
        `iter_pages`' stop rules, so a page requested past the point where they stop (a listing that shrank
        mid-way) is discarded, and a listing that grows is followed up to page 1's `total_number`.
        """
        ahead: dict[int, asyncio.Task[JSONObject]] = {}
        collected: list[JSONObject] = []
        page, cap = 1, MAX_PAGES
        try:
            while True:
                pending = ahead.pop(page, None)
                data = await (pending or self._get_page(path, params, token, page, page_size))
                items = self._page_items(data, path)
                collected.extend(items)
                info = self._page_info(data)
                if page == 1:
                    cap = self._page_cap(info, page_size)
                if not items or self._last_page(info, page, cap, path):
                    return collected
                page += 1
                for later in range(page, min(page + self._page_window, self._known_end(info, page, cap) + 1)):
                    if later not in ahead:
                        ahead[later] = asyncio.create_task(self._get_page(path, params, token, later, page_size))
        finally:
            await _discard(ahead.values())

    async def _get_page(
        self, path: str, params: Mapping[str, Any], token: str, page: int, page_size: int
    ) -> JSONObject:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return await self.get(path, {**params, "page": page, "page_size": page_size}, token)

    @staticmethod
    def _page_info(data: JSONObject) -> JSONObject:
        info = data.get("page_info")
        return info if isinstance(info, dict) else {}

    @staticmethod
    def _page_items(data: JSONObject, path: str) -> list[JSONObject]:
        items = data.get("list")
        if items is None:
            return []
        if not isinstance(items, list):
            raise TransportError(f"malformed page: list is a {type(items).__name__}", path)
        return items

    @staticmethod
    def _page_cap(info: JSONObject, page_size: int) -> int:
        total_number = _as_int(info.get("total_number"))
        if total_number is None or total_number < 0:
            return MAX_PAGES
        return min(MAX_PAGES, max(1, math.ceil(total_number / page_size)))

    @staticmethod
    def _known_end(info: JSONObject, next_page: int, cap: int) -> int:
        """The last page worth requesting ahead: the latest `total_page`, else the cap from `total_number`;
        only `next_page` when neither is known (an unknown length is read one page at a time)."""
        total_page = _as_int(info.get("total_page"))
        if total_page is not None:
            return min(cap, total_page)
        return cap if cap < MAX_PAGES else next_page

    @staticmethod
    def _last_page(info: JSONObject, page: int, cap: int, path: str) -> bool:
        total_page = _as_int(info.get("total_page"))
        if total_page is not None and page >= total_page:
            return True
        if page >= cap:
            log.warning(
                "TikTok %s: stopping at page %d, the count implied by total_number (total_page %s)",
                path,
                page,
                total_page,
            )
            return True
        return False

    # -- typed helpers -------------------------------------------------------------------------------

    async def get_bcs(self, token: str) -> list[JSONObject]:
        """`bc/get/`: the BCs the token's user can access (items carry `bc_info`, `user_role`)."""
        items = await self.list_all("bc/get/", {}, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items("bc/get/", items, shapes.BC)

    async def get_partners(self, token: str, bc_id: str) -> list[JSONObject]:
        """`bc/partner/get/`: the partners of `bc_id` (`bc_id`, `bc_name`); needs a BC admin."""
        items = await self.list_all("bc/partner/get/", {"bc_id": str(bc_id)}, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items("bc/partner/get/", items, shapes.PARTNER)

    async def get_partner_assets(
        self, token: str, bc_id: str, partner_id: str, asset_type: str, share_type: str
    ) -> list[JSONObject]:
        """`bc/partner/asset/get/`: assets shared with us (SHARED) or by us (SHARING) with the partner; only the
        asset types its definition accepts (ADVERTISER, CATALOG, DOMAIN)."""
        path = "bc/partner/asset/get/"
        ENDPOINTS[path].check(asset_type=asset_type, share_type=share_type)
        params = {
            "bc_id": str(bc_id),
            "partner_id": str(partner_id),
            "asset_type": asset_type,
            "share_type": share_type,
        }
        items = await self.list_all(path, params, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.PARTNER_ASSET)

    async def get_members(self, token: str, bc_id: str, filtering: JSONObject | None = None) -> list[JSONObject]:
        """`bc/member/get/`: members and pending invitees of `bc_id`; needs a BC admin."""
        ENDPOINTS["bc/member/get/"].check(filtering=filtering)
        params = {"bc_id": str(bc_id), "filtering": filtering or None}
        items = await self.list_all("bc/member/get/", params, token, page_size=MEMBER_PAGE_SIZE)
        return shapes.check_items("bc/member/get/", items, shapes.MEMBER)

    async def get_asset_members(self, token: str, bc_id: str, asset_type: str, asset_id: str) -> list[JSONObject]:
        """`bc/asset/member/get/`: members with access to one asset (`advertiser_role`/`catalog_role`); only
        ADVERTISER, CATALOG and LEAD assets."""
        path = "bc/asset/member/get/"
        ENDPOINTS[path].check(asset_type=asset_type)
        params = {"bc_id": str(bc_id), "asset_type": asset_type, "asset_id": str(asset_id)}
        items = await self.list_all(path, params, token, page_size=MEMBER_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.ASSET_MEMBER)

    async def get_own_assets(self, token: str, bc_id: str, asset_type: str) -> list[JSONObject]:
        """`bc/asset/admin/get/` with `relation_type` OWNER_BC: the assets `bc_id` owns (needs a BC admin)."""
        path, filtering = "bc/asset/admin/get/", {"relation_type": "OWNER_BC"}
        ENDPOINTS[path].check(asset_type=asset_type, filtering=filtering)
        params = {"bc_id": str(bc_id), "asset_type": asset_type, "filtering": filtering}
        items = await self.list_all(path, params, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.PARTNER_ASSET)

    async def get_asset_partners(self, token: str, bc_id: str, asset_type: str, asset_id: str) -> list[JSONObject]:
        """`bc/asset/partner/get/`: the partners (`bc_id`, `bc_name`) one asset of `bc_id` is shared with."""
        path = "bc/asset/partner/get/"
        ENDPOINTS[path].check(asset_type=asset_type)
        params = {"bc_id": str(bc_id), "asset_type": asset_type, "asset_id": str(asset_id)}
        items = await self.list_all(path, params, token, page_size=MAX_PAGE_SIZE)
        return shapes.check_items(path, items, shapes.PARTNER)

    async def get_user_info(self, token: str) -> JSONObject:
        """`user/info/`: the token's TikTok for Business user (`display_name`, masked `email`, `core_user_id`)."""
        data = await self.get("user/info/", {}, token)
        return data if isinstance(data, dict) else {}

    async def get_authorized_advertisers(self, token: str) -> list[JSONObject]:
        """`oauth2/advertiser/get/`: advertisers the token is authorised for (not paginated)."""
        params = {"app_id": self.config.app_id, "secret": self.config.app_secret}
        data = await self.get("oauth2/advertiser/get/", params, token)
        return self._page_items(data, "oauth2/advertiser/get/")


async def _discard(tasks: Iterable[asyncio.Task[JSONObject]]) -> None:
    """Cancel pages requested ahead that are not needed, and collect their outcomes (errors included)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code (route handlers, CLI).

    Without a running loop in this thread it uses `asyncio.run`; inside one (a sync helper called from
    async code) it runs the coroutine on a fresh loop in a helper thread and blocks until it is done.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiktok-run-sync") as pool:
        return pool.submit(asyncio.run, coro).result()


class _StripQueryFilter(logging.Filter):
    """Drop the query string (which may carry the app secret) from httpx's request log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _install_log_filter() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _StripQueryFilter) for f in httpx_log.filters):
        httpx_log.addFilter(_StripQueryFilter())


_install_log_filter()


def _mark_sniffio_absent() -> None:
    """httpcore runs `import sniffio` each time it sets up a lock (several times per request) and falls back
    to asyncio when that fails; uninstalled, every failed import searches `sys.path` again (a measurable share
    of each request's CPU, see benchmarks/RESULTS.md). Recording the absence makes the import fail at once."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


_mark_sniffio_absent()

# httpx imports its transport (httpcore, h11, httpcore's anyio backend) on the first request. When that
# first request was the OAuth callback's, in a worker thread while Streamlit's rerun briefly changed
# `sys.path`, the import failed ("No module named 'httpcore'", issue 12). Import them with this module.
TRANSPORT_MODULES = ("httpcore", "h11", "httpcore._backends.anyio", "httpcore._backends.auto")


def _import_transport() -> None:
    for name in TRANSPORT_MODULES:
        importlib.import_module(name)


_import_transport()

__all__ = [
    "ASSET_TYPES",
    "MAX_PAGE_SIZE",
    "MEMBER_PAGE_SIZE",
    "SHARE_TYPES",
    "ClientConfig",
    "ClientStats",
    "RetryEvent",
    "TikTokClient",
    "encode_params",
    "run_sync",
]
