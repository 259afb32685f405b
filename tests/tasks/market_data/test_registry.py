"""Where the defaults live (load_config, the adapters) and build_data_source_manager from a config."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from app.config import load_config
from tasks.market_data import (
    SOURCE_REGISTRY,
    AlphaVantageSource,
    FinnhubSource,
    InProcessQuoteCache,
    InProcessRateLimiter,
    MarketDataSource,
    RedisQuoteCache,
    RedisRateLimiter,
    SimulatedSource,
    YahooFinanceSource,
    build_data_source_manager,
)
from tasks.market_data.http import HttpSource
from tests.tasks.market_data.conftest import MarketConfig


def test_registry_and_defaults() -> None:
    assert {
        "yahoo_finance": YahooFinanceSource,
        "alpha_vantage": AlphaVantageSource,
        "finnhub": FinnhubSource,
        "simulated": SimulatedSource,
    } == SOURCE_REGISTRY
    loaded = load_config({"SECRET_KEY": "test"})
    assert loaded["MARKET_DATA_SOURCE_PRIORITIES"] == {"simulated": 1}
    assert loaded["REALTIME_CACHE_TIMEOUT"] == 300
    assert loaded["SIMULATED_SEED"] == 42
    assert loaded["MARKET_DATA_TIMEOUT"] == 10
    # None = "the provider's own": the facts about a provider belong to its adapter.
    http_sources = (YahooFinanceSource, AlphaVantageSource, FinnhubSource)
    assert [loaded[source.base_url_setting] for source in http_sources] == [None, None, None]
    assert [loaded[source.rate_limit_setting] for source in http_sources] == [None, None, None]
    assert loaded["SIMULATED_RATE_LIMIT"] is None


@pytest.mark.parametrize(
    ("source", "base_url", "rate_limit"),
    [
        (YahooFinanceSource, "https://query1.finance.yahoo.com", 100),
        (AlphaVantageSource, "https://www.alphavantage.co", 5),
        (FinnhubSource, "https://finnhub.io", 60),
        (SimulatedSource, None, 0),
    ],
)
def test_adapters_declare_their_providers_host_and_limit(
    source: type[MarketDataSource], base_url: str | None, rate_limit: int, market_config: MarketConfig
) -> None:
    assert (source.default_base_url, source.default_rate_limit) == (base_url, rate_limit)
    built = source.from_config(market_config(ALPHA_VANTAGE_API_KEY="av", FINNHUB_API_KEY="fh"))
    assert built.rate_limit == rate_limit
    if isinstance(built, HttpSource):
        assert built.http.base_url == base_url
    built.close()


def test_reference_constructor_still_works() -> None:
    assert YahooFinanceSource(api_key="k", rate_limit=100).rate_limit == 100
    assert YahooFinanceSource(rate_limit=7).http.base_url == "https://query1.finance.yahoo.com"


def test_a_missing_setting_names_the_key_and_load_config(market_config: MarketConfig) -> None:
    config = market_config(MARKET_DATA_SOURCE_PRIORITIES={"yahoo_finance": 1})
    del config["MARKET_DATA_TIMEOUT"]  # there is no fallback default in tasks
    with pytest.raises(ValueError, match=r"MARKET_DATA_TIMEOUT is missing .*app\.config\.load_config provides"):
        build_data_source_manager(config, None)


def test_default_config_builds_the_simulated_market_in_process(market_config: MarketConfig) -> None:
    manager = build_data_source_manager(market_config(), None)
    assert [s.name for s in manager.sources] == ["simulated"]
    assert isinstance(manager.rate_limiter, InProcessRateLimiter)
    assert isinstance(manager.cache, InProcessQuoteCache)
    assert manager.get_asset_data(["AAPL"])["AAPL"].source == "simulated"


def test_sources_follow_priorities_and_settings(caplog: pytest.LogCaptureFixture, market_config: MarketConfig) -> None:
    config = market_config(
        MARKET_DATA_SOURCE_PRIORITIES={"finnhub": 1, "yahoo_finance": 2, "alpha_vantage": 3, "simulated": 4},
        FINNHUB_API_KEY="fh",
        FINNHUB_BASE_URL="http://127.0.0.1:9/",
        YAHOO_FINANCE_RATE_LIMIT="7",
        MARKET_DATA_TIMEOUT=3,
        SIMULATED_SEED=11,
        REALTIME_CACHE_TIMEOUT=0,
    )
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
def test_bad_config_raises_value_error(config: dict[str, Any], message: str, market_config: MarketConfig) -> None:
    with pytest.raises(ValueError, match=message):
        build_data_source_manager(market_config(**config), None)


def test_no_usable_source_is_logged(caplog: pytest.LogCaptureFixture, market_config: MarketConfig) -> None:
    with caplog.at_level(logging.WARNING, logger="pricewire.price_feed"):
        manager = build_data_source_manager(market_config(MARKET_DATA_SOURCE_PRIORITIES={"finnhub": 1}), None)
    assert manager.sources == []
    assert "no usable market data source" in caplog.text


def test_redis_client_shares_limits_and_cache(
    redis_client: redis.Redis, redis_prefix: str, market_config: MarketConfig
) -> None:
    config = market_config(REDIS_KEY_PREFIX=redis_prefix, SIMULATED_RATE_LIMIT=2, REALTIME_CACHE_TIMEOUT=60)
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


def test_real_provider_settings_reach_the_adapters(
    market_config: MarketConfig, redis_client: redis.Redis, redis_prefix: str
) -> None:
    config = market_config(MARKET_DATA_SOURCE_PRIORITIES={"yahoo_finance": 1, "alpha_vantage": 2, "finnhub": 3},
                           ALPHA_VANTAGE_API_KEY="av", FINNHUB_API_KEY="fh", FINNHUB_PLAN="paid",
                           ALPHA_VANTAGE_DAILY_LIMIT=7, REDIS_KEY_PREFIX=redis_prefix)
    yahoo, alpha, finnhub = build_data_source_manager(config, redis_client).sources
    assert isinstance(yahoo, YahooFinanceSource) and yahoo.session is not None
    assert yahoo.session.cookie_url == "https://fc.yahoo.com" and yahoo.session.ttl == 3600
    assert getattr(yahoo.session.store, "key", None) == f"{redis_prefix}:yahoo:session"
    assert alpha.daily_limit == 7 and finnhub.daily_limit == 0
    assert finnhub.provider_symbol("EURUSD=X")[0] == "OANDA:EUR_USD"
    gateway = build_data_source_manager({**config, "YAHOO_FINANCE_COOKIE_URL": "none"}, None).sources[0]
    assert isinstance(gateway, YahooFinanceSource) and gateway.session is None
    with pytest.raises(ValueError, match="FINNHUB_PLAN must be free or paid"):
        build_data_source_manager({**config, "FINNHUB_PLAN": "gold"}, None)
