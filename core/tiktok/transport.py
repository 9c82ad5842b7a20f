"""TikTok's API over HTTP: one `httpx.AsyncClient` per `async with` block, the process-wide `TokenBucket` before
each attempt, the envelope `code`, and retries with backoff.

Every call:

- waits for the process-wide `TokenBucket` before each attempt;
- sends the token in the `Access-Token` header, GET parameters in the query string (objects and arrays
  JSON-encoded exactly once, ids as strings) and POST bodies as JSON;
- has a timeout (`ClientConfig.timeout_s`, for connecting and for the whole exchange);
- branches on the envelope `code`, never on the HTTP status of a 200, and keeps ids as strings;
- retries `RetryableError`s (throttling, system errors, HTTP 5xx, timeouts, malformed bodies) with capped
  exponential backoff and full jitter; a 40100 also `penalize`s the shared bucket so the whole app slows
  down. HTTP 4xx other than 408/425/429 (a wrong path or method) is raised at once, as is every
  non-retryable code. When the attempts run out, `RetriesExhaustedError` wraps the last error.

Tokens and secrets are never logged: log lines carry paths, codes and request_ids (`httpx_setup.py` strips the
query string from httpx's own request log lines).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from core.tiktok import envelope, httpx_setup
from core.tiktok.errors import RetriesExhaustedError, RetryableError, TikTokError, TransportError
from core.tiktok.pagination import PAGE_WINDOW
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.shapes import JSONObject

log = logging.getLogger(__name__)

THROTTLED = 40100
_RETRYABLE_HTTP_4XX = frozenset({408, 425, 429})
_USER_AGENT = "PartnerWatch/0.1 (+httpx)"

httpx_setup.prepare()


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


@dataclass(frozen=True)
class _Request:
    """One call as it is sent, the same on every attempt."""

    method: str
    url: str
    path: str
    headers: dict[str, str]
    params: dict[str, str] | None
    content: bytes | None


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


def _should_retry(error: TikTokError) -> bool:
    if isinstance(error, TransportError) and error.http_status is not None and 400 <= error.http_status < 500:
        return error.http_status in _RETRYABLE_HTTP_4XX
    return error.retryable


class Transport:
    """GET and POST with retries, and how much of it may run at once (connections, pages of one listing in
    flight); `TikTokClient` (client.py) adds paging and the endpoints PartnerWatch calls."""

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
        if page_window < 1:
            raise ValueError("page_window must be at least 1")
        self.config = config
        self.stats = ClientStats()
        self._limiter = limiter
        self._transport = transport
        self._on_retry = on_retry
        self._sleep = sleep
        self._max_connections = max_connections
        self.page_window = page_window  # how many pages of one listing may be in flight at once (pagination.py)
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
        headers = self._headers(token, json_body=content is not None)
        request = _Request(method, self._url(path), path, headers, params, content)
        attempt = 1
        while True:
            await self._limiter.acquire_async()
            try:
                return await self._attempt(request)
            except RetryableError as err:
                if not _should_retry(err):
                    raise
                if attempt >= self.config.max_attempts:
                    raise RetriesExhaustedError(err, attempt) from err
                await self._back_off(path, attempt, err)
            attempt += 1

    async def _attempt(self, request: _Request) -> JSONObject:
        self.stats.requests += 1
        try:
            response = await self._send(request)
            code, data = envelope.unwrap_with_code(response.status_code, response.content, request.path)
        except TikTokError as err:
            self.stats.record(err.code)
            log.info(
                "TikTok %s %s failed: code %s (request_id %s)", request.method, request.path, err.code, err.request_id
            )
            raise
        self.stats.record(code)
        return data

    async def _send(self, request: _Request) -> httpx.Response:
        timeout_s = self.config.timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await self._open().request(
                    request.method,
                    request.url,
                    params=request.params,
                    content=request.content,
                    headers=request.headers,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise TransportError(f"no response within {timeout_s:g} s", request.path) from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}".rstrip(": "), request.path) from exc

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
