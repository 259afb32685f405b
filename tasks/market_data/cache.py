"""Short-lived cache of successful quotes: Redis when available, in-process otherwise."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import redis

from .base import QuoteResult

__all__ = ["DEFAULT_CACHE_PREFIX", "InProcessQuoteCache", "QuoteCache", "RedisQuoteCache"]

logger = logging.getLogger("pricewire.price_feed")

DEFAULT_CACHE_PREFIX = "pricewire:quotecache:"


class QuoteCache(Protocol):
    """Stores successful quotes for a short time."""

    def get_many(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Return the cached, unexpired quotes among ``symbols``."""
        ...

    def set_many(self, results: Iterable[QuoteResult]) -> None:
        """Cache the successful results."""
        ...


class InProcessQuoteCache:
    """Dict with expiry times, for embedded mode."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._items: dict[str, tuple[float, QuoteResult]] = {}
        self._lock = threading.Lock()

    def get_many(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Return unexpired entries, dropping expired ones."""
        now = self._clock()
        found = {}
        with self._lock:
            for symbol in symbols:
                item = self._items.get(symbol)
                if item and item[0] > now:
                    found[symbol] = item[1]
                elif item:
                    del self._items[symbol]
        return found

    def set_many(self, results: Iterable[QuoteResult]) -> None:
        """Store successes until now + ttl."""
        expires = self._clock() + self.ttl
        with self._lock:
            for result in results:
                if result.success:
                    self._items[result.symbol] = (expires, result)


def _json_default(value: Any) -> str:
    """Encode Decimal exactly and datetime as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


class RedisQuoteCache:
    """Quotes as JSON strings under ``prefix + symbol`` with a Redis TTL, shared by workers."""

    def __init__(self, client: redis.Redis, ttl: float, *, prefix: str = DEFAULT_CACHE_PREFIX) -> None:
        self.client = client
        self.ttl_ms = max(1, int(ttl * 1000))
        self.prefix = prefix

    def get_many(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """MGET the symbols; an unreachable Redis or a bad entry counts as a miss."""
        if not symbols:
            return {}
        try:
            raw = self.client.mget([self.prefix + symbol for symbol in symbols])
        except redis.RedisError as exc:
            logger.warning("quote cache: Redis unavailable (%s); fetching instead", exc)
            return {}
        found = {}
        for symbol, payload in zip(symbols, raw, strict=True):
            if payload is None:
                continue
            try:
                found[symbol] = QuoteResult.from_dict(json.loads(payload))
            except (ValueError, TypeError, ArithmeticError) as exc:
                logger.warning("quote cache: dropping bad entry for %s (%s)", symbol, exc)
        return found

    def set_many(self, results: Iterable[QuoteResult]) -> None:
        """SET each success with PX in one pipeline."""
        successes = [result for result in results if result.success]
        if not successes:
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for result in successes:
                    payload = json.dumps(result.as_dict(), default=_json_default)
                    pipe.set(self.prefix + result.symbol, payload, px=self.ttl_ms)
                pipe.execute()
        except redis.RedisError as exc:
            logger.warning("quote cache: Redis unavailable (%s); not caching", exc)
