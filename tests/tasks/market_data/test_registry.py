"""Defaults and build_data_source_manager from a config mapping."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from tasks.market_data import (
    MARKET_DATA_DEFAULTS,
    SOURCE_REGISTRY,
    AlphaVantageSource,
    FinnhubSource,
    InProcessQuoteCache,
    InProcessRateLimiter,
    RedisQuoteCache,
    RedisRateLimiter,
    SimulatedSource,
    YahooFinanceSource,
    build_data_source_manager,
)


def test_registry_and_defaults() -> None:
    assert {
        "yahoo_finance": YahooFinanceSource,
        "alpha_vantage": AlphaVantageSource,
        "finnhub": FinnhubSource,
        "simulated": SimulatedSource,
    } == SOURCE_REGISTRY
    assert MARKET_DATA_DEFAULTS["MARKET_DATA_SOURCE_PRIORITIES"] == {"simulated": 1}
    assert MARKET_DATA_DEFAULTS["YAHOO_FINANCE_RATE_LIMIT"] == 100
    assert MARKET_DATA_DEFAULTS["ALPHA_VANTAGE_RATE_LIMIT"] == 5
    assert MARKET_DATA_DEFAULTS["FINNHUB_RATE_LIMIT"] == 60
    assert MARKET_DATA_DEFAULTS["SIMULATED_RATE_LIMIT"] == 0
    assert MARKET_DATA_DEFAULTS["REALTIME_CACHE_TIMEOUT"] == 300
    assert MARKET_DATA_DEFAULTS["SIMULATED_SEED"] == 42
    assert MARKET_DATA_DEFAULTS["MARKET_DATA_TIMEOUT"] == 10


def test_empty_config_builds_the_simulated_market_in_process() -> None:
    manager = build_data_source_manager({}, None)
    assert [s.name for s in manager.sources] == ["simulated"]
    assert isinstance(manager.rate_limiter, InProcessRateLimiter)
    assert isinstance(manager.cache, InProcessQuoteCache)
    assert manager.get_asset_data(["AAPL"])["AAPL"].source == "simulated"


def test_sources_follow_priorities_and_settings(caplog: pytest.LogCaptureFixture) -> None:
    config: dict[str, Any] = {
        "MARKET_DATA_SOURCE_PRIORITIES": {"finnhub": 1, "yahoo_finance": 2, "alpha_vantage": 3, "simulated": 4},
        "FINNHUB_API_KEY": "fh",
        "FINNHUB_BASE_URL": "http://127.0.0.1:9/",
        "YAHOO_FINANCE_RATE_LIMIT": "7",
        "MARKET_DATA_TIMEOUT": 3,
        "SIMULATED_SEED": 11,
        "REALTIME_CACHE_TIMEOUT": 0,
    }
    with caplog.at_level(logging.WARNING, logger="pricewire.price_feed"):
        manager = build_data_source_manager(config, None)
    assert [s.name for s in manager.sources] == ["finnhub", "yahoo_finance", "simulated"]
    assert "alpha_vantage skipped: ALPHA_VANTAGE_API_KEY is not set" in caplog.text
    finnhub, yahoo, simulated = manager.sources
    assert isinstance(finnhub, FinnhubSource) and isinstance(yahoo, YahooFinanceSource)
    assert finnhub.http.base_url == "http://127.0.0.1:9" and finnhub.http.timeout == 3
    assert yahoo.rate_limit == 7 and yahoo.http.base_url == "https://query1.finance.yahoo.com"
    assert isinstance(simulated, SimulatedSource) and simulated.seed == 11
    assert manager.cache is None  # REALTIME_CACHE_TIMEOUT=0 disables it


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"MARKET_DATA_SOURCE_PRIORITIES": {"nope": 1}}, "unknown source 'nope'"),
        ({"MARKET_DATA_SOURCE_PRIORITIES": "simulated:1"}, "non-empty mapping"),
        ({"MARKET_DATA_SOURCE_PRIORITIES": {"simulated": "1"}}, "priority of simulated"),
        (
            {"MARKET_DATA_SOURCE_PRIORITIES": {"yahoo_finance": 1}, "MARKET_DATA_TIMEOUT": "soon"},
            "MARKET_DATA_TIMEOUT must be a number",
        ),
        ({"MARKET_DATA_SOURCE_PRIORITIES": {"yahoo_finance": 1}, "MARKET_DATA_TIMEOUT": 0}, "timeout must be > 0"),
        ({"SIMULATED_RATE_LIMIT": -1}, "SIMULATED_RATE_LIMIT must be an integer >= 0"),
    ],
)
def test_bad_config_raises_value_error(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_data_source_manager(config, None)


def test_no_usable_source_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pricewire.price_feed"):
        manager = build_data_source_manager({"MARKET_DATA_SOURCE_PRIORITIES": {"finnhub": 1}}, None)
    assert manager.sources == []
    assert "no usable market data source" in caplog.text


def test_redis_client_shares_limits_and_cache(redis_client: redis.Redis, redis_prefix: str) -> None:
    config = {"REDIS_KEY_PREFIX": redis_prefix, "SIMULATED_RATE_LIMIT": 2, "REALTIME_CACHE_TIMEOUT": 60}
    manager = build_data_source_manager(config, redis_client)
    assert isinstance(manager.rate_limiter, RedisRateLimiter) and isinstance(manager.cache, RedisQuoteCache)
    first = manager.get_asset_data(["AAPL"])["AAPL"]
    assert redis_client.exists(f"{redis_prefix}:quotecache:AAPL")
    assert redis_client.zcard(f"{redis_prefix}:ratelimit:simulated") == 1
    # Another manager (as in another worker) sees the cached quote and the shared limit.
    other = build_data_source_manager(config, redis_client)
    assert other.get_asset_data(["AAPL"])["AAPL"] == first
    assert other.get_asset_data(["MSFT"])["MSFT"].success
    refused = other.get_asset_data(["KO"])["KO"]
    assert not refused.success and "local rate limit of 2/min reached" in (refused.error or "")
