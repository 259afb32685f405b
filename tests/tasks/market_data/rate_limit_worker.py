"""Child-process body for the cross-process rate-limit test (importable under spawn)."""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import redis

from tasks.market_data.rate_limit import RedisRateLimiter


def hammer(url: str, prefix: str, *, limit: int, attempts: int, start: Event, out: Queue) -> None:
    """Wait for the start signal, try ``attempts`` acquisitions, report how many were granted."""
    client = redis.Redis.from_url(url)
    # A long window so the count cannot depend on how fast the machine runs the test.
    limiter = RedisRateLimiter(client, prefix=prefix, window_seconds=3600)
    start.wait(30)
    granted = sum(1 for _ in range(attempts) if limiter.acquire("yahoo_finance", limit))
    out.put(granted)
    client.close()
