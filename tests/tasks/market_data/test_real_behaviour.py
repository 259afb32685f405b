"""Providers as they answer today (responses/README.md says where each body comes from)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis

from tasks.market_data import (
    AlphaVantageSource,
    DataSourceManager,
    FinnhubSource,
    InProcessRateLimiter,
    QuoteResult,
    RedisRateLimiter,
    SourceError,
    YahooFinanceSource,
)
from tasks.market_data.finnhub import PAID_PLAN
from tasks.market_data.freshness import mark_stale
from tests.tasks.market_data.conftest import FakeClock, Reply, Seen, StubServer, load_response

YAHOO, AV, FH, PROFILE = "/v7/finance/quote", "/query", "/api/v1/quote", "/api/v1/stock/profile2"


def yahoo(stub: StubServer) -> YahooFinanceSource:
    return YahooFinanceSource(base_url=stub.url, retries=0, backoff=0, timeout=5)


def alpha(stub: StubServer, **options: object) -> AlphaVantageSource:
    return AlphaVantageSource(api_key="av", base_url=stub.url, retries=0, backoff=0, **options)  # type: ignore[arg-type]


def finnhub(stub: StubServer) -> FinnhubSource:
    return FinnhubSource(api_key="fh", base_url=stub.url, retries=0, backoff=0)


def test_london_quote_keeps_pence_and_exchange_metadata(stub: StubServer) -> None:
    stub.json(YAHOO, "yahoo_quote_lse_gbp.json")
    vod = yahoo(stub).fetch_quotes(["VOD.L"])["VOD.L"]
    assert vod.success and vod.price == Decimal("220.95") and vod.currency == "GBp"
    assert (vod.exchange, vod.exchange_timezone, vod.market_state) == ("LSE", "Europe/London", "REGULAR")
    assert vod.timestamp == datetime.fromtimestamp(1510241696, UTC)


def test_index_with_zero_volume_is_served_and_the_zero_is_unknown(stub: StubServer) -> None:
    stub.json(YAHOO, "yahoo_quote_index_ftse.json")
    ftse = yahoo(stub).fetch_quotes(["^FTSE"])["^FTSE"]
    assert ftse.success and ftse.price == Decimal("7492.57") and ftse.volume is None and ftse.currency == "GBP"


def test_zero_day_high_and_previous_close_do_not_reject_the_quote(stub: StubServer) -> None:
    # Hand-built from the ^FTSE recording: indices and OTC names send regularMarketDayHigh/PreviousClose 0.
    body = json.loads(load_response("yahoo_quote_index_ftse.json"))
    body["quoteResponse"]["result"][0].update(regularMarketDayHigh=0, regularMarketPreviousClose=0)
    stub.route(YAHOO, Reply(json.dumps(body)))
    ftse = yahoo(stub).fetch_quotes(["^FTSE"])["^FTSE"]
    assert ftse.success and ftse.high is None and ftse.previous_close is None
    assert ftse.low == Decimal("7476.89") and ftse.change == Decimal("-37.15039")


def test_finnhub_plan_refusal_fails_that_symbol_only_and_never_opens_the_breaker(
    stub: StubServer, clock: FakeClock
) -> None:
    def route(seen: Seen) -> Reply:
        if seen.query["symbol"] == "AAPL":
            return Reply(load_response("finnhub_quote_aapl.json"))
        return Reply(load_response("finnhub_no_access.json"), 403)

    stub.route(FH, route)
    manager = DataSourceManager(clock=clock, breaker_threshold=2)
    manager.add_source(finnhub(stub))
    for _ in range(3):
        results = manager.get_asset_data(["BRK-B", "TSLA", "F", "AAPL"], force=True)
        assert results["AAPL"].success
        assert "not on this plan (HTTP 403): You don't have access" in (results["TSLA"].error or "")
    assert manager.source_stats()["finnhub"]["state"] == "closed"


def test_finnhub_rejected_key_fails_the_source(stub: StubServer) -> None:
    stub.route(FH, Reply(load_response("finnhub_invalid_key.json"), 401))
    with pytest.raises(SourceError, match=r"authentication failed \(HTTP 401\): Invalid API key"):
        finnhub(stub).fetch_quotes(["AAPL"])


def test_currency_reference_data_from_finnhub_and_alpha_vantage(stub: StubServer) -> None:
    stub.json(PROFILE, "finnhub_profile2_aapl.json")
    stub.json(AV, "alpha_vantage_symbol_search_tesco.json")
    assert finnhub(stub).fetch_currency("AAPL") == "USD"
    assert alpha(stub).fetch_currency("TSCO.L") == "GBX"
    assert stub.seen(AV)[0].query == {"function": "SYMBOL_SEARCH", "keywords": "TSCO.LON", "apikey": "av"}
    assert alpha(stub).fetch_currency("TSCDF") == "USD"
    assert alpha(stub).fetch_currency("TSCO") is None  # no exact match: unknown, not a guess


def test_alpha_vantage_is_asked_in_its_own_symbol_form(stub: StubServer) -> None:
    stub.json(AV, "alpha_vantage_global_quote_tsco_lon.json")
    tesco = alpha(stub).fetch_quotes(["TSCO.L"])["TSCO.L"]
    assert tesco.success and tesco.symbol == "TSCO.L" and tesco.price == Decimal("284.6000")
    assert tesco.currency is None  # GLOBAL_QUOTE states none; the pipeline learns it (test_currency_learning)
    assert stub.seen(AV)[0].query["symbol"] == "TSCO.LON"


@pytest.mark.parametrize(("source", "symbol", "form"), [
    (YahooFinanceSource, "^GSPC", "^GSPC"),
    (YahooFinanceSource, "EURUSD=X", "EURUSD=X"),
    (AlphaVantageSource, "VOD.L", "VOD.LON"),
    (AlphaVantageSource, "SAP.DE", "SAP.DEX"),
    (AlphaVantageSource, "BRK-B", "BRK-B"),
    (AlphaVantageSource, "^GSPC", None),
    (AlphaVantageSource, "EURUSD=X", None),
    (AlphaVantageSource, "7203.T", None),
    (FinnhubSource, "AAPL", "AAPL"),
    (FinnhubSource, "VOD.L", None),
    (FinnhubSource, "BTC-USD", None),
])
def test_symbol_forms(source: type, symbol: str, form: str | None) -> None:
    assert source(api_key="k").provider_symbol(symbol)[0] == form


def test_finnhub_paid_plan_forms() -> None:
    assert PAID_PLAN.provider_symbol("EURUSD=X")[0] == "OANDA:EUR_USD"
    assert PAID_PLAN.provider_symbol("BTC-USD")[0] == "BINANCE:BTCUSDT"
    assert PAID_PLAN.provider_symbol("^GSPC") == (None, "serves no index symbols on the paid plan")


def test_manager_asks_only_sources_that_can_serve_a_symbol(stub: StubServer, clock: FakeClock) -> None:
    stub.route(YAHOO, Reply("down", 500))
    manager = DataSourceManager(clock=clock)
    for source in (yahoo(stub), alpha(stub), finnhub(stub)):
        manager.add_source(source)
    result = manager.get_asset_data(["^GSPC"])["^GSPC"]
    assert not stub.seen(AV) and not stub.seen(FH)
    assert "alpha_vantage: serves no index symbols on the free plan" in (result.error or "")
    assert "finnhub: serves no index symbols on the free plan" in (result.error or "")


def test_daily_quota_is_shared_across_workers_and_cools_down_until_the_reset(
    stub: StubServer, clock: FakeClock, redis_client: redis.Redis, redis_prefix: str, noon: datetime
) -> None:
    stub.json(AV, "alpha_vantage_global_quote_ibm.json")
    workers = []
    for _ in range(2):
        manager = DataSourceManager(rate_limiter=RedisRateLimiter(redis_client, prefix=f"{redis_prefix}:rl:"),
                                    clock=clock)
        manager.add_source(alpha(stub, daily_limit=2, rate_limit=0))
        workers.append(manager)
    assert workers[0].get_asset_data(["IBM"], force=True)["IBM"].success
    assert workers[1].get_asset_data(["IBM"], force=True)["IBM"].success
    refused = workers[0].get_asset_data(["IBM"], force=True)["IBM"]
    assert "daily quota of 2 requests spent" in (refused.error or "") and len(stub.seen(AV)) == 2
    stats = workers[0].source_stats()["alpha_vantage"]
    assert stats["state"] == "cooling_down" and stats["cooldown_remaining"] == 12 * 3600  # until midnight UTC


def test_provider_saying_the_day_is_spent_stops_every_worker(
    stub: StubServer, clock: FakeClock, redis_client: redis.Redis, redis_prefix: str, noon: datetime
) -> None:
    stub.json(AV, "alpha_vantage_information.json")
    limiter = RedisRateLimiter(redis_client, prefix=f"{redis_prefix}:rl:")
    first, second = DataSourceManager(rate_limiter=limiter, clock=clock), DataSourceManager(rate_limiter=limiter)
    first.add_source(alpha(stub, rate_limit=0))
    second.add_source(alpha(stub, rate_limit=0))
    assert not first.get_asset_data(["IBM"])["IBM"].success
    assert not second.get_asset_data(["IBM"])["IBM"].success
    assert len(stub.seen(AV)) == 1  # the second worker never sent: the shared day is spent


def test_daily_quota_in_process(noon: datetime) -> None:
    limiter = InProcessRateLimiter()
    assert limiter.acquire_daily("x", 1) is None and limiter.acquire_daily("x", 1) == 12 * 3600
    assert limiter.acquire_daily("y", 0) is None


def test_old_prints_are_flagged_stale_with_their_true_time() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)

    def quote(symbol: str, age: timedelta, state: str | None = None) -> QuoteResult:
        return QuoteResult(symbol, True, Decimal(1), timestamp=now - age, source="s", market_state=state)

    coin = mark_stale(quote("OLD-USD", timedelta(days=900)), 300, now)
    assert coin.stale and coin.timestamp == now - timedelta(days=900)
    assert mark_stale(quote("BTC-USD", timedelta(minutes=10)), 300, now).stale  # crypto trades all the time
    assert not mark_stale(quote("AAPL", timedelta(days=2)), 300, now).stale  # a weekend: market closed
    assert mark_stale(quote("AAPL", timedelta(minutes=10), "REGULAR"), 300, now).stale  # open, yet 10 min old
    assert not mark_stale(quote("AAPL", timedelta(seconds=30), "REGULAR"), 300, now).stale
