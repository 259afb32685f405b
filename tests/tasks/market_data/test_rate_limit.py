"""Rate limiters: in-process sliding window and the Redis Lua window shared by real OS processes."""

from __future__ import annotations

import logging
import multiprocessing
import queue

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.market_data import InProcessRateLimiter, RedisRateLimiter
from tests.support.services import wait_for
from tests.tasks.market_data.conftest import FakeClock, closed_port
from tests.tasks.market_data.rate_limit_worker import hammer


def test_in_process_window_grants_exactly_the_limit_then_slides(clock: FakeClock) -> None:
    limiter = InProcessRateLimiter(window_seconds=60, clock=clock)
    assert [limiter.acquire("yahoo_finance", 3) for _ in range(5)] == [True, True, True, False, False]
    assert limiter.acquire("finnhub", 3)  # each source has its own window
    clock.advance(59.9)
    assert not limiter.acquire("yahoo_finance", 3)
    clock.advance(0.2)
    assert limiter.acquire("yahoo_finance", 3)


def test_zero_means_unlimited(clock: FakeClock) -> None:
    limiter = InProcessRateLimiter(clock=clock)
    assert all(limiter.acquire("simulated", 0) for _ in range(1000))


def test_redis_limiter_grants_exactly_the_limit(redis_client: redis.Redis, redis_prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=f"{redis_prefix}:ratelimit:", window_seconds=3600)
    assert sum(limiter.acquire("alpha_vantage", 5) for _ in range(12)) == 5
    assert limiter.acquire("finnhub", 5)
    assert redis_client.zcard(f"{redis_prefix}:ratelimit:alpha_vantage") == 5
    assert redis_client.pttl(f"{redis_prefix}:ratelimit:alpha_vantage") > 0


def test_redis_window_slides(redis_client: redis.Redis, redis_prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=f"{redis_prefix}:ratelimit:", window_seconds=0.05)
    assert limiter.acquire("yahoo_finance", 1)
    # Once the window has passed, a request is granted again (polled, no fixed sleep).
    wait_for(lambda: limiter.acquire("yahoo_finance", 1), timeout=5, message="window to slide")


def test_two_processes_never_exceed_the_shared_limit(redis_server_url: str, redis_prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    out = context.Queue()
    limit, attempts = 15, 40
    prefix = f"{redis_prefix}:ratelimit:"
    workers = [
        context.Process(
            target=hammer,
            args=(redis_server_url, prefix),
            kwargs={"limit": limit, "attempts": attempts, "start": start, "out": out},
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    start.set()
    counts = []
    try:
        for _ in workers:
            counts.append(out.get(timeout=60))
    except queue.Empty:
        pytest.fail("a worker process did not report")
    finally:
        for worker in workers:
            worker.join(timeout=30)
        client = redis.Redis.from_url(redis_server_url)
        client.delete(f"{prefix}yahoo_finance")
        client.close()
    assert all(worker.exitcode == 0 for worker in workers)
    assert sum(counts) == limit  # together exactly the limit, never more
    assert all(0 <= count <= limit for count in counts)


def test_redis_down_falls_back_to_a_per_process_limit(
    caplog: pytest.LogCaptureFixture, clock: FakeClock, redis_client: redis.Redis, redis_prefix: str
) -> None:
    down = redis.Redis(host="127.0.0.1", port=closed_port(), retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(down, prefix=f"{redis_prefix}:ratelimit:", recheck_seconds=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="pricewire.price_feed"):
        results = [limiter.acquire("yahoo_finance", 2) for _ in range(4)]
    assert results == [True, True, False, False]
    assert len([r for r in caplog.records if "Redis unavailable" in r.getMessage()]) == 1
    # Redis comes back (here: the script now runs on a live server): limits are shared again.
    limiter._script = redis_client.register_script(limiter._script.script)
    clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="pricewire.price_feed"):
        assert limiter.acquire("yahoo_finance", 2)
    assert redis_client.zcard(f"{redis_prefix}:ratelimit:yahoo_finance") == 1
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
