"""TikTokClient against httpx.MockTransport: a scripted server (`Script`), recorded sleeps, and a client on them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from core.tiktok.client import TikTokClient
from core.tiktok.ratelimit import TokenBucket
from core.tiktok.transport import ClientConfig, RetryEvent

BASE = "https://api.test/open_api/v1.3/"
SECRET = "s3cr3t-app-secret"
TOKEN = "tok-abcdef"

Handler = Callable[[httpx.Request], Any]


class Script:
    """Answers requests from a list (the last answer repeats) and records every request."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if callable(answer):
            answer = answer(request)
            if asyncio.iscoroutine(answer):
                answer = await answer
        return answer


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(
    script: Script,
    *,
    events: list[RetryEvent] | None = None,
    sleep: Sleeps | None = None,
    limiter: TokenBucket | None = None,
    page_window: int = 6,
    **config: Any,
) -> TikTokClient:
    settings = {
        "max_attempts": 4,
        "backoff_base_s": 0.1,
        "backoff_cap_s": 0.3,
        "throttle_penalty_s": 0.01,
        "timeout_s": 2,
        **config,
    }
    return TikTokClient(
        ClientConfig(BASE, "7100000000000000000", SECRET, **settings),
        limiter or TokenBucket(1000, burst=1000),
        transport=httpx.MockTransport(script),
        on_retry=events.append if events is not None else None,
        sleep=sleep or Sleeps(),
        page_window=page_window,
    )


def call(client: TikTokClient, fn: Callable[[TikTokClient], Any]) -> Any:
    async def run() -> Any:
        async with client:
            return await fn(client)

    return asyncio.run(run())
