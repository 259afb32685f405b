"""Per-source request limits: a Redis sliding-window log shared by all processes, or in-process."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis

__all__ = ["DEFAULT_RATE_LIMIT_PREFIX", "InProcessRateLimiter", "RateLimiter", "RedisRateLimiter"]

logger = logging.getLogger("pricewire.price_feed")

DEFAULT_RATE_LIMIT_PREFIX = "pricewire:ratelimit:"

# Sliding-window log: a sorted set of grant times (Redis clock, microseconds). Running as
# one script makes "count, compare, add" atomic across every process sharing the server,
# and using the server's TIME avoids trusting each worker's clock.
_SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window_us)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(window_us / 1000))
  return 1
end
return 0
"""


class RateLimiter(Protocol):
    """Grants or refuses one request to a source under a per-window limit."""

    def acquire(self, source: str, limit: int) -> bool:
        """Take one request; False means the limit is reached (do not send)."""
        ...


class InProcessRateLimiter:
    """Sliding-window log per source for embedded mode (one process)."""

    def __init__(self, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._grants: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, source: str, limit: int) -> bool:
        """Take one request if fewer than ``limit`` were granted in the window; 0 = unlimited."""
        if limit <= 0:
            return True
        with self._lock:
            now = self._clock()
            grants = self._grants.setdefault(source, deque())
            while grants and grants[0] <= now - self.window_seconds:
                grants.popleft()
            if len(grants) >= limit:
                return False
            grants.append(now)
            return True


class RedisRateLimiter:
    """Sliding-window log in Redis so all worker processes share one limit per source."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_RATE_LIMIT_PREFIX,
        window_seconds: float = 60.0,
        fallback: RateLimiter | None = None,
        recheck_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prefix = prefix
        self.window_seconds = window_seconds
        self._script = client.register_script(_SLIDING_WINDOW_LUA)
        # If Redis is unreachable, keep each process within the limit rather than stop fetching,
        # and do not pay the client's connect retries on every request: retry Redis later.
        self._fallback = fallback or InProcessRateLimiter(window_seconds)
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._down_until: float | None = None

    def acquire(self, source: str, limit: int) -> bool:
        """Take one request from the shared window; 0 = unlimited."""
        if limit <= 0:
            return True
        if self._down_until is not None and self._clock() < self._down_until:
            return self._fallback.acquire(source, limit)
        window_us = int(self.window_seconds * 1_000_000)
        try:
            granted = self._script(keys=[self.prefix + source], args=[limit, window_us, uuid.uuid4().hex])
        except redis.RedisError as exc:
            if self._down_until is None:
                logger.warning("rate limiter: Redis unavailable (%s); limiting per process", exc)
            self._down_until = self._clock() + self.recheck_seconds
            return self._fallback.acquire(source, limit)
        if self._down_until is not None:
            logger.warning("rate limiter: Redis is back; limits are shared again")
            self._down_until = None
        return bool(granted)
