"""The per-app rate limit: 40100 with the spec's message beyond QPS, recovery, and the QPM bucket."""

from __future__ import annotations

import time

from sandbox.ratelimit import AppRateLimiter

THROTTLED = "Due to too many requests, requests from App [7100000000000000000] are temporarily restricted."


def test_burst_beyond_qps_gets_40100(http, get, admin_token) -> None:
    assert http.post("/sandbox/control/ratelimit", json={"qps": 5, "qpm": 600}).status_code == 200
    answers = [get("bc/get/", admin_token) for _ in range(15)]
    codes = [a["code"] for a in answers]
    assert codes.count(0) >= 5
    assert codes.count(40100) >= 5
    throttled = next(a for a in answers if a["code"] == 40100)
    assert (throttled["message"], throttled["data"]) == (THROTTLED, {})
    time.sleep(1.1)
    assert get("bc/get/", admin_token)["code"] == 0


def test_unauthenticated_calls_count_too(http, get) -> None:
    http.post("/sandbox/control/ratelimit", json={"qps": 2, "qpm": 600})
    codes = [get("bc/get/")["code"] for _ in range(6)]
    assert codes[:2] == [40104, 40104]
    assert 40100 in codes


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_qps_bucket_refills_every_second() -> None:
    clock = FakeClock()
    limiter = AppRateLimiter(qps=10, qpm=600, clock=clock)
    assert sum(limiter.allow() for _ in range(20)) == 10
    clock.now += 0.5
    assert sum(limiter.allow() for _ in range(20)) == 5


def test_qpm_bucket_limits_a_sustained_rate() -> None:
    clock = FakeClock()
    limiter = AppRateLimiter(qps=10, qpm=30, clock=clock)
    allowed = 0
    for _ in range(10):  # ten seconds at the full QPS
        allowed += sum(limiter.allow() for _ in range(10))
        clock.now += 1
    assert 30 <= allowed <= 36  # the 30-call burst plus half a call per second of refill
