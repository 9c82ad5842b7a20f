"""The per-app rate limit of the emulated API: a QPS bucket and a QPM bucket, both must have a token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class _Bucket:
    def __init__(self, capacity: float, per_second: float, now: float) -> None:
        self.capacity, self.per_second = capacity, per_second
        self.tokens, self.stamp = capacity, now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now


class AppRateLimiter:
    """Token buckets of one developer app: `qps` per second (burst `qps`) and `qpm` per minute."""

    def __init__(self, qps: float, qpm: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(qps, qpm)

    def configure(self, qps: float, qpm: float) -> None:
        """New limits, buckets full."""
        now = self._clock()
        with self._lock:
            self.qps, self.qpm = qps, qpm
            self._second = _Bucket(max(qps, 1.0), qps, now)
            self._minute = _Bucket(max(qpm, 1.0), qpm / 60.0, now)

    def allow(self) -> bool:
        """Takes one token from both buckets, or none when either is empty (the call is throttled)."""
        now = self._clock()
        with self._lock:
            self._second.refill(now)
            self._minute.refill(now)
            if self._second.tokens < 1 or self._minute.tokens < 1:
                return False
            self._second.tokens -= 1
            self._minute.tokens -= 1
            return True
