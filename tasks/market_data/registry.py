"""Source registry, priority parsing and the config-driven manager factory."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import redis

from .alpha_vantage import AlphaVantageSource
from .base import MarketDataSource
from .cache import InProcessQuoteCache, QuoteCache, RedisQuoteCache
from .finnhub import FinnhubSource
from .manager import DataSourceManager
from .rate_limit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from .settings import setting, setting_float, setting_int
from .simulated import SimulatedSource
from .yahoo import YahooFinanceSource

__all__ = ["SOURCE_REGISTRY", "build_data_source_manager", "parse_priorities"]

logger = logging.getLogger("pricewire.price_feed")

SOURCE_REGISTRY: dict[str, type[MarketDataSource]] = {
    YahooFinanceSource.name: YahooFinanceSource,
    AlphaVantageSource.name: AlphaVantageSource,
    FinnhubSource.name: FinnhubSource,
    SimulatedSource.name: SimulatedSource,
}

_ENTRY_RE = re.compile(r"\s*([a-z_]+)\s*(?::\s*(\d+)\s*)?")


def parse_priorities(text: str) -> dict[str, int]:
    """Parse ``"yahoo_finance:1,alpha_vantage:2"``; blank means ``{"simulated": 1}``."""
    if not isinstance(text, str):
        raise ValueError(f"MARKET_DATA_SOURCE_PRIORITIES must be text, got {type(text).__name__}")
    if not text.strip():
        return {"simulated": 1}
    priorities: dict[str, int] = {}
    for item in text.split(","):
        match = _ENTRY_RE.fullmatch(item)
        if match is None:
            raise ValueError(
                f"MARKET_DATA_SOURCE_PRIORITIES: bad entry {item.strip()!r}, expected name:priority "
                f"such as yahoo_finance:1 (names: {', '.join(SOURCE_REGISTRY)})"
            )
        # A bare name ranks after those before it, as the app's config loader reads it.
        name = match.group(1)
        priority = int(match.group(2)) if match.group(2) is not None else len(priorities) + 1
        _check_entry(name, priority)
        if name in priorities:
            raise ValueError(f"MARKET_DATA_SOURCE_PRIORITIES: {name} listed twice")
        priorities[name] = priority
    return priorities


def _check_entry(name: Any, priority: Any) -> None:
    """Validate one name/priority pair."""
    if name not in SOURCE_REGISTRY:
        raise ValueError(
            f"MARKET_DATA_SOURCE_PRIORITIES: unknown source {name!r} (names: {', '.join(SOURCE_REGISTRY)})"
        )
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise ValueError(f"MARKET_DATA_SOURCE_PRIORITIES: priority of {name} must be an integer >= 1")


def _priorities(config: Mapping[str, Any]) -> dict[str, int]:
    """Read priorities from config, as a dict or still as text."""
    raw = setting(config, "MARKET_DATA_SOURCE_PRIORITIES")
    if isinstance(raw, str):
        return parse_priorities(raw)
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("MARKET_DATA_SOURCE_PRIORITIES must be a non-empty mapping of name to priority")
    for name, priority in raw.items():
        _check_entry(name, priority)
    return dict(raw)


def build_data_source_manager(config: Mapping[str, Any], redis_client: redis.Redis | None) -> DataSourceManager:
    """Build a manager from settings; Redis (if given) shares rate limits and cache across workers.

    Redis keys are ``{REDIS_KEY_PREFIX}:ratelimit:*`` and ``{REDIS_KEY_PREFIX}:quotecache:*``
    (prefix default ``pricewire``).
    """
    priorities = _priorities(config)
    key_prefix = f"{config.get('REDIS_KEY_PREFIX') or 'pricewire'}:"
    ttl = setting_float(config, "REALTIME_CACHE_TIMEOUT")
    limiter: RateLimiter
    cache: QuoteCache | None
    if redis_client is not None:
        limiter = RedisRateLimiter(redis_client, prefix=f"{key_prefix}ratelimit:")
        cache = RedisQuoteCache(redis_client, ttl, prefix=f"{key_prefix}quotecache:") if ttl else None
    else:
        limiter = InProcessRateLimiter()
        cache = InProcessQuoteCache(ttl) if ttl else None
    manager = DataSourceManager(
        rate_limiter=limiter,
        cache=cache,
        breaker_threshold=setting_int(config, "MARKET_DATA_BREAKER_THRESHOLD", minimum=1),
        breaker_reset_seconds=setting_float(config, "MARKET_DATA_BREAKER_RESET_SECONDS"),
        default_cooldown=setting_float(config, "MARKET_DATA_COOLDOWN_SECONDS"),
    )
    for name, priority in sorted(priorities.items(), key=lambda item: item[1]):
        manager.add_source(SOURCE_REGISTRY[name].from_config(config), priority)
    if not manager.sources:
        logger.error("no usable market data source among %s; every quote will fail", sorted(priorities))
    return manager
