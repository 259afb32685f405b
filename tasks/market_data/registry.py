"""Source registry and the config-driven manager factory."""

from __future__ import annotations

import logging
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

__all__ = ["SOURCE_REGISTRY", "build_data_source_manager"]

logger = logging.getLogger("pricewire.price_feed")

SOURCE_REGISTRY: dict[str, type[MarketDataSource]] = {
    YahooFinanceSource.name: YahooFinanceSource,
    AlphaVantageSource.name: AlphaVantageSource,
    FinnhubSource.name: FinnhubSource,
    SimulatedSource.name: SimulatedSource,
}

def _check_entry(name: Any, priority: Any) -> None:
    """Validate one name/priority pair."""
    if name not in SOURCE_REGISTRY:
        raise ValueError(
            f"MARKET_DATA_SOURCE_PRIORITIES: unknown source {name!r} (names: {', '.join(SOURCE_REGISTRY)})"
        )
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise ValueError(f"MARKET_DATA_SOURCE_PRIORITIES: priority of {name} must be an integer >= 1")


def _priorities(config: Mapping[str, Any]) -> dict[str, int]:
    """Priorities as app/config.py parsed them from MARKET_DATA_SOURCE_PRIORITIES."""
    raw = setting(config, "MARKET_DATA_SOURCE_PRIORITIES")
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("MARKET_DATA_SOURCE_PRIORITIES must be a non-empty mapping of name to priority")
    for name, priority in raw.items():
        _check_entry(name, priority)
    return dict(raw)


def build_data_source_manager(config: Mapping[str, Any], redis_client: redis.Redis | None) -> DataSourceManager:
    """Build a manager from settings; Redis (if given) shares rate limits and cache across workers.

    ``config`` is a full config (``app.config.load_config``). Redis keys are
    ``{REDIS_KEY_PREFIX}:ratelimit:*`` and ``{REDIS_KEY_PREFIX}:quotecache:*``.
    """
    priorities = _priorities(config)
    key_prefix = f"{setting(config, 'REDIS_KEY_PREFIX')}:"
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
        stale_after=setting_float(config, "DATA_STALE_AFTER_SECONDS"),
    )
    for name, priority in sorted(priorities.items(), key=lambda item: item[1]):
        source = SOURCE_REGISTRY[name].from_config(config)
        source.share_state(redis_client, key_prefix)
        manager.add_source(source, priority)
    if not manager.sources:
        logger.error("no usable market data source among %s; every quote will fail", sorted(priorities))
    return manager
