"""Per-source request limits: a Redis sliding-window log shared by all processes, or in-process."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis

__all__ = [
    "DEFAULT_RATE_LIMIT_PREFIX",
    "InProcessRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "seconds_until_daily_reset",
]

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


# Daily quota: a counter per source and UTC day; GET, compare and INCR in one step across processes.
_DAILY_LUA = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
if tonumber(ARGV[1]) <= 0 then
  return 1
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  return 0
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
_DAY_SECONDS = 86_400


def seconds_until_daily_reset(now: datetime | None = None) -> float:
    """Seconds to the next daily quota reset: midnight UTC (Alpha Vantage's day; see docs/market-data.md)."""
    current = now or datetime.now(UTC)
    midnight = datetime(current.year, current.month, current.day, tzinfo=UTC) + timedelta(days=1)
    return max(1.0, (midnight - current).total_seconds())


def _day_key(now: datetime | None = None) -> str:
    """The UTC day a daily counter belongs to."""
    return (now or datetime.now(UTC)).strftime("%Y%m%d")


class RateLimiter(Protocol):
    """Grants or refuses one request to a source under a per-minute and a per-day limit."""

    def acquire(self, source: str, limit: int) -> bool:
        """Take one request; False means the limit is reached (do not send)."""
        ...

    def acquire_daily(self, source: str, limit: int) -> float | None:
        """Take one request from today's quota: None if granted, else seconds until the daily reset."""
        ...

    def exhaust_daily(self, source: str, limit: int) -> None:
        """Mark today's quota spent (the provider said so) for every process."""
        ...


class _DailyCounts:
    """Per-source request counts of the current UTC day, in this process."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[str, int]] = {}
        self._spent: dict[str, str] = {}  # source -> the UTC day the provider said its quota was spent
        self._lock = threading.Lock()

    def acquire_daily(self, source: str, limit: int) -> float | None:
        """Take one request from today's quota; 0 = unlimited (unless the provider said the day is spent)."""
        with self._lock:
            day = _day_key()
            if self._spent.get(source) == day:
                return seconds_until_daily_reset()
            if limit <= 0:
                return None
            seen, used = self._counts.get(source, (day, 0))
            used = used if seen == day else 0
            if used >= limit:
                return seconds_until_daily_reset()
            self._counts[source] = (day, used + 1)
            return None

    def exhaust_daily(self, source: str, limit: int) -> None:
        """Mark today's quota spent."""
        with self._lock:
            self._spent[source] = _day_key()


class InProcessRateLimiter(_DailyCounts):
    """Sliding-window log per source for embedded mode (one process)."""

    def __init__(self, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
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
        self._client = client
        self._script = client.register_script(_SLIDING_WINDOW_LUA)
        self._daily = client.register_script(_DAILY_LUA)
        # If Redis is unreachable, keep each process within the limit rather than stop fetching,
        # and do not pay the client's connect retries on every request: retry Redis later.
        self._fallback: RateLimiter = fallback or InProcessRateLimiter(window_seconds)
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._down_until: float | None = None

    def acquire(self, source: str, limit: int) -> bool:
        """Take one request from the shared window; 0 = unlimited."""
        if limit <= 0:
            return True
        if self._redis_down():
            return self._fallback.acquire(source, limit)
        window_us = int(self.window_seconds * 1_000_000)
        try:
            granted = self._script(keys=[self.prefix + source], args=[limit, window_us, uuid.uuid4().hex])
        except redis.RedisError as exc:
            self._went_down(exc)
            return self._fallback.acquire(source, limit)
        self._came_back()
        return bool(granted)

    def acquire_daily(self, source: str, limit: int) -> float | None:
        """Take one request from today's shared quota; 0 = unlimited (unless the provider said the day is spent)."""
        if self._redis_down():
            return self._fallback.acquire_daily(source, limit)
        try:
            keys = [self._daily_key(source), self._daily_key(source) + ":spent"]
            granted = self._daily(keys=keys, args=[limit, 2 * _DAY_SECONDS])
        except redis.RedisError as exc:
            self._went_down(exc)
            return self._fallback.acquire_daily(source, limit)
        self._came_back()
        return None if granted else seconds_until_daily_reset()

    def exhaust_daily(self, source: str, limit: int) -> None:
        """Mark today's quota spent for every worker."""
        self._fallback.exhaust_daily(source, limit)
        try:
            self._client.set(self._daily_key(source) + ":spent", 1, ex=2 * _DAY_SECONDS)
        except redis.RedisError as exc:
            self._went_down(exc)

    def _daily_key(self, source: str) -> str:
        return f"{self.prefix}{source}:day:{_day_key()}"

    def _redis_down(self) -> bool:
        """Whether Redis failed recently (use the per-process fallback until the recheck)."""
        return self._down_until is not None and self._clock() < self._down_until

    def _went_down(self, exc: Exception) -> None:
        if self._down_until is None:
            logger.warning("rate limiter: Redis unavailable (%s); limiting per process", exc)
        self._down_until = self._clock() + self.recheck_seconds

    def _came_back(self) -> None:
        if self._down_until is not None:
            logger.warning("rate limiter: Redis is back; limits are shared again")
            self._down_until = None
