"""Client-side rate limiting: one token bucket per process, shared by every thread and event loop.

TikTok limits requests per developer app (10 QPS on the Basic tier) and signals exhaustion only with
code 40100, so the app throttles itself. `TokenBucket` is a GCRA ("virtual scheduling") bucket: each
call reserves the next free slot under a `threading.Lock` and then sleeps until it, with
`time.sleep` in sync code or `asyncio.sleep` in whichever event loop is calling. Nothing is bound to a
loop, so jobs running `asyncio.run` in several worker threads share one budget.

`penalize(seconds)` is the reaction to a 40100: no slot is handed out before `now + seconds`, and
callers already sleeping towards a slot inside that window take a new slot after it when they wake,
so the whole app slows down rather than the one coroutine that saw the 40100.

The default burst is half a second's worth: TikTok's (and the sandbox's) per-second bucket holds one
second's worth, so the other half stays in reserve for requests that arrive closer together than they
left (network jitter) and the server rarely answers 40100.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate_per_s` requests per second, at most `burst` back to back (default: half a second's worth)."""

    def __init__(
        self, rate_per_s: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate_per_s > 0 or math.isinf(rate_per_s):
            raise ValueError(f"rate_per_s must be a positive finite number, not {rate_per_s!r}")
        burst = max(1.0, rate_per_s / 2) if burst is None else burst
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        self._rate = float(rate_per_s)
        self._burst = float(burst)
        self._interval = 1.0 / self._rate
        self._tolerance = (self._burst - 1.0) * self._interval
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = -math.inf  # theoretical arrival time of the next request
        self._blocked_until = -math.inf

    @property
    def burst(self) -> float:
        return self._burst

    def reserve(self) -> float:
        """Take the next slot and return how many seconds to wait for it (0.0 when it is free now)."""
        return self._reserve()[0]

    def _reserve(self) -> tuple[float, float]:
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            at = max(now, tat - self._tolerance)
            self._tat = tat + self._interval
            return at - now, at

    def _moved(self, at: float) -> bool:
        """True if a penalty landed after the slot at `at` was reserved and covers it."""
        with self._lock:
            return at < self._blocked_until

    def acquire(self) -> None:
        """Block the calling thread until it may send one request."""
        while True:
            wait, at = self._reserve()
            if wait > 0:
                time.sleep(wait)
            if not self._moved(at):
                return

    async def acquire_async(self) -> None:
        """Wait, without blocking the event loop, until this coroutine may send one request."""
        while True:
            wait, at = self._reserve()
            if wait > 0:
                await asyncio.sleep(wait)
            if not self._moved(at):
                return

    def penalize(self, seconds: float) -> None:
        """Hand out no slot for `seconds` from now (after a 40100), then resume at the plain rate."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._blocked_until = max(self._blocked_until, until)
            self._tat = max(self._tat, until + self._tolerance)

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self._rate}, burst={self._burst})"


__all__ = ["TokenBucket"]
