"""TokenBucket: slot arithmetic on a fake clock, penalties, and sharing across threads and event loops."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from core.tiktok.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def waits(bucket: TokenBucket, n: int) -> list[float]:
    return [round(bucket.reserve(), 6) for _ in range(n)]


def test_burst_is_free_then_calls_are_spaced_by_the_rate() -> None:
    bucket = TokenBucket(10, burst=3, clock=FakeClock())
    assert waits(bucket, 6) == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]


def test_default_burst_is_half_a_second_worth() -> None:
    bucket = TokenBucket(10, clock=FakeClock())
    assert bucket.burst == 5
    assert waits(bucket, 7) == [0.0] * 5 + [0.1, 0.2]
    assert TokenBucket(0.5, clock=FakeClock()).burst == 1


def test_idle_time_refills_the_burst_but_never_beyond_it() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=2, clock=clock)
    assert waits(bucket, 3) == [0.0, 0.0, 0.1]
    clock.now += 60
    assert waits(bucket, 3) == [0.0, 0.0, 0.1]


def test_partial_refill() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=2, clock=clock)
    waits(bucket, 2)
    clock.now += 0.1  # one slot back
    assert waits(bucket, 2) == [0.0, 0.1]


def test_penalize_pushes_every_later_caller_back_then_resumes_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=5, clock=clock)
    waits(bucket, 2)
    bucket.penalize(1.0)
    assert waits(bucket, 3) == [1.0, 1.1, 1.2]  # no burst right after a 40100


def test_penalize_does_not_stack_and_ignores_non_positive_values() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=1, clock=clock)
    bucket.penalize(1.0)
    bucket.penalize(1.0)
    bucket.penalize(0)
    bucket.penalize(-3)
    assert waits(bucket, 1) == [1.0]


@pytest.mark.parametrize(("rate", "burst"), [(0, None), (-1, None), (float("inf"), None), (10, 0.5)])
def test_rejects_bad_parameters(rate: float, burst: float | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_concurrent_threads_never_share_a_slot() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100, burst=1, clock=clock)
    results: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [bucket.reserve() for _ in range(200)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(round(w, 6) for w in results) == [round(i * 0.01, 6) for i in range(1600)]


def test_acquire_blocks_for_real() -> None:
    bucket = TokenBucket(50, burst=1)
    start = time.monotonic()
    for _ in range(6):
        bucket.acquire()
    assert 0.09 <= time.monotonic() - start < 2.0


def test_one_bucket_paces_several_event_loops_in_several_threads() -> None:
    bucket = TokenBucket(100, burst=1)
    stamps: list[float] = []
    lock = threading.Lock()

    async def calls(n: int) -> None:
        for _ in range(n):
            await bucket.acquire_async()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=asyncio.run, args=(calls(10),)) for _ in range(3)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stamps) == 30
    assert time.monotonic() - start >= 0.28  # 30 slots at 100/s, the first one free
    stamps.sort()
    assert stamps[-1] - stamps[0] >= 0.28


def test_penalty_reaches_callers_already_waiting_for_a_slot() -> None:
    bucket = TokenBucket(20, burst=1)

    async def scenario() -> list[float]:
        start = time.monotonic()
        bucket.reserve()  # slot taken: the next waits 50 ms

        async def waiter() -> float:
            await bucket.acquire_async()
            return time.monotonic() - start

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        bucket.penalize(0.3)  # a 40100 elsewhere while the waiter sleeps towards its slot
        return [await task]

    (elapsed,) = asyncio.run(scenario())
    assert elapsed >= 0.3
