"""DataSourceManager over real HTTP: fallback order, cool-down, breaker, limits, cache, events."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from tasks.market_data import (
    AlphaVantageSource,
    DataSourceManager,
    FeedEvent,
    FinnhubSource,
    InProcessQuoteCache,
    InProcessRateLimiter,
    MarketDataError,
    QuoteResult,
    SimulatedSource,
    YahooFinanceSource,
)
from tests.tasks.market_data.conftest import FakeClock, Reply, StubServer, load_response

YAHOO = "/v7/finance/quote"
AV = "/query"
FH = "/api/v1/quote"


def build(stub: StubServer, clock: FakeClock, *, yahoo_limit: int = 0, **options: object) -> DataSourceManager:
    """Yahoo, then Alpha Vantage, then Finnhub, all served by the stub."""
    common = {"base_url": stub.url, "retries": 0, "backoff": 0}
    manager = DataSourceManager(
        rate_limiter=InProcessRateLimiter(clock=clock),
        clock=clock,
        breaker_threshold=2,
        breaker_reset_seconds=30,
        default_cooldown=60,
        **options,  # type: ignore[arg-type]
    )
    manager.add_source(FinnhubSource(api_key="fh", rate_limit=0, **common), priority=3)  # type: ignore[arg-type]
    manager.add_source(YahooFinanceSource(rate_limit=yahoo_limit, **common), priority=1)  # type: ignore[arg-type]
    manager.add_source(AlphaVantageSource(api_key="av", rate_limit=0, **common), priority=2)  # type: ignore[arg-type]
    return manager


def yahoo_ok(stub: StubServer) -> None:
    stub.json(YAHOO, "yahoo_quote_success.json")


def av_ibm_for_any(stub: StubServer) -> None:
    stub.json(AV, "alpha_vantage_global_quote_ibm.json")


def test_sources_are_ordered_by_priority(stub: StubServer, clock: FakeClock) -> None:
    names = [source.name for source in build(stub, clock).sources]
    assert names == ["yahoo_finance", "alpha_vantage", "finnhub"]


def test_primary_serves_when_healthy(stub: StubServer, clock: FakeClock) -> None:
    yahoo_ok(stub)
    results = build(stub, clock).get_asset_data(["AAPL", "msft"])
    assert list(results) == ["AAPL", "MSFT"]
    assert {r.source for r in results.values()} == {"yahoo_finance"}
    assert stub.seen(AV) == [] and stub.seen(FH) == []


def test_source_failure_falls_back_in_order(stub: StubServer, clock: FakeClock) -> None:
    stub.route(YAHOO, Reply("down", 500))
    av_ibm_for_any(stub)
    result = build(stub, clock).get_asset_data(["IBM"])["IBM"]
    assert result.success and result.source == "alpha_vantage"
    assert stub.seen(FH) == []


def test_fallback_is_per_symbol(stub: StubServer, clock: FakeClock) -> None:
    stub.json(YAHOO, "yahoo_quote_batch_one_unknown.json")
    stub.json(AV, "alpha_vantage_unknown.json")
    stub.json(FH, "finnhub_quote_aapl.json")
    results = build(stub, clock).get_asset_data(["AAPL", "ZZZZ", "MSFT"])
    assert results["AAPL"].source == results["MSFT"].source == "yahoo_finance"
    assert results["ZZZZ"].success and results["ZZZZ"].source == "finnhub"
    assert [s.query["symbol"] for s in stub.seen(AV)] == ["ZZZZ"]
    assert [s.query["symbol"] for s in stub.seen(FH)] == ["ZZZZ"]


def test_when_every_source_fails_the_reasons_are_listed(stub: StubServer, clock: FakeClock) -> None:
    stub.route(YAHOO, Reply("down", 503))
    stub.json(AV, "alpha_vantage_unknown.json")
    stub.json(FH, "finnhub_quote_unknown.json")
    result = build(stub, clock).get_asset_data(["NOPE"])["NOPE"]
    assert not result.success and result.source == "none"
    assert result.error == (
        "yahoo_finance: server error (HTTP 503); alpha_vantage: unknown symbol; finnhub: unknown symbol"
    )


def test_429_opens_a_cool_down_for_retry_after(stub: StubServer, clock: FakeClock) -> None:
    stub.route(YAHOO, [Reply("slow", 429, {"Retry-After": "120"}), Reply(load_response("yahoo_quote_success.json"))])
    av_ibm_for_any(stub)
    manager = build(stub, clock)
    assert manager.get_asset_data(["IBM"])["IBM"].source == "alpha_vantage"
    assert manager.get_asset_data(["IBM"], force=True)["IBM"].source == "alpha_vantage"
    assert len(stub.seen(YAHOO)) == 1  # not asked during the cool-down
    assert manager.source_stats()["yahoo_finance"]["state"] == "cooling_down"
    clock.advance(121)
    assert manager.get_asset_data(["AAPL"], force=True)["AAPL"].source == "yahoo_finance"


def test_throttle_body_cools_down_alpha_vantage(stub: StubServer, clock: FakeClock) -> None:
    stub.route(YAHOO, Reply("down", 500))
    stub.json(AV, "alpha_vantage_note.json")
    stub.json(FH, "finnhub_quote_aapl.json")
    manager = build(stub, clock)
    results = manager.get_asset_data(["IBM", "AAPL"])
    assert {r.source for r in results.values()} == {"finnhub"}
    assert len(stub.seen(AV)) == 1  # the throttle stops further requests in the same call
    manager.get_asset_data(["IBM"], force=True)
    assert len(stub.seen(AV)) == 1
    clock.advance(61)  # default cool-down (no Retry-After in a body)
    manager.get_asset_data(["IBM"], force=True)
    assert len(stub.seen(AV)) == 2


def test_circuit_opens_after_repeated_failures_and_half_opens_later(stub: StubServer, clock: FakeClock) -> None:
    stub.route(YAHOO, Reply("down", 500))
    av_ibm_for_any(stub)
    manager = build(stub, clock)
    for _ in range(2):
        manager.get_asset_data(["IBM"], force=True)
    assert manager.source_stats()["yahoo_finance"]["state"] == "open"
    manager.get_asset_data(["IBM"], force=True)
    assert len(stub.seen(YAHOO)) == 2  # open: not asked
    clock.advance(30)
    assert manager.source_stats()["yahoo_finance"]["state"] == "half_open"
    manager.get_asset_data(["IBM"], force=True)  # the trial fails: open again at once
    assert len(stub.seen(YAHOO)) == 3
    assert manager.source_stats()["yahoo_finance"]["state"] == "open"
    clock.advance(30)
    yahoo_ok(stub)
    assert manager.get_asset_data(["AAPL"], force=True)["AAPL"].source == "yahoo_finance"
    assert manager.source_stats()["yahoo_finance"]["state"] == "closed"


def test_over_the_rate_limit_is_deferred_to_the_next_source_not_sent(stub: StubServer, clock: FakeClock) -> None:
    yahoo_ok(stub)
    av_ibm_for_any(stub)
    manager = build(stub, clock, yahoo_limit=1)
    assert manager.get_asset_data(["AAPL"])["AAPL"].source == "yahoo_finance"
    deferred = manager.get_asset_data(["IBM"])["IBM"]
    assert deferred.source == "alpha_vantage"
    assert len(stub.seen(YAHOO)) == 1
    assert manager.source_stats()["yahoo_finance"]["state"] == "closed"  # not the provider's fault
    clock.advance(60)
    assert manager.get_asset_data(["MSFT"])["MSFT"].source == "yahoo_finance"


def test_cache_fetches_only_uncached_symbols_and_force_bypasses(stub: StubServer, clock: FakeClock) -> None:
    yahoo_ok(stub)
    manager = build(stub, clock, cache=InProcessQuoteCache(ttl=300, clock=clock))
    first = manager.get_asset_data(["AAPL"])["AAPL"]
    assert manager.get_asset_data(["AAPL", "MSFT"])["AAPL"] is first
    assert [s.query["symbols"] for s in stub.seen(YAHOO)] == ["AAPL", "MSFT"]
    manager.get_asset_data(["AAPL", "MSFT"], force=True)
    assert stub.seen(YAHOO)[-1].query["symbols"] == "AAPL,MSFT"
    clock.advance(301)
    manager.get_asset_data(["AAPL"])
    assert len(stub.seen(YAHOO)) == 4


def test_failures_are_not_cached(stub: StubServer, clock: FakeClock) -> None:
    stub.json(YAHOO, "yahoo_quote_batch_one_unknown.json")
    stub.json(AV, "alpha_vantage_unknown.json")
    stub.json(FH, "finnhub_quote_unknown.json")
    manager = build(stub, clock, cache=InProcessQuoteCache(ttl=300, clock=clock))
    manager.get_asset_data(["ZZZZ"])
    manager.get_asset_data(["ZZZZ"])
    assert len(stub.seen(YAHOO)) == 2


def test_failover_and_recovery_events(stub: StubServer, clock: FakeClock) -> None:
    received: list[FeedEvent] = []
    stub.route(YAHOO, Reply("down", 500))
    av_ibm_for_any(stub)
    manager = build(stub, clock, on_event=received.append)
    manager.get_asset_data(["IBM"])
    manager.get_asset_data(["IBM"], force=True)  # still failed over: no second event
    events = manager.drain_events()
    assert [(e.kind, e.primary, e.active) for e in events] == [("failover", "yahoo_finance", "alpha_vantage")]
    assert "HTTP 500" in events[0].reason and manager.drain_events() == []
    clock.advance(30)
    yahoo_ok(stub)
    manager.get_asset_data(["AAPL"], force=True)
    assert [e.kind for e in manager.drain_events()] == ["recovered"]
    assert [e.kind for e in received] == ["failover", "recovered"]


def test_stats_count_successes_and_failures(stub: StubServer, clock: FakeClock) -> None:
    stub.json(YAHOO, "yahoo_quote_batch_one_unknown.json")
    stub.json(AV, "alpha_vantage_unknown.json")
    stub.json(FH, "finnhub_quote_aapl.json")
    manager = build(stub, clock)
    manager.get_asset_data(["AAPL", "MSFT", "ZZZZ"])
    stats = manager.source_stats()
    assert (stats["yahoo_finance"]["successes"], stats["yahoo_finance"]["failures"]) == (2, 1)
    assert (stats["alpha_vantage"]["successes"], stats["alpha_vantage"]["failures"]) == (0, 1)
    assert (stats["finnhub"]["successes"], stats["finnhub"]["failures"]) == (1, 0)
    assert stats["yahoo_finance"]["priority"] == 1 and stats["yahoo_finance"]["configured"]


def test_source_without_key_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    manager = DataSourceManager()
    with caplog.at_level(logging.WARNING, logger="pricewire.price_feed"):
        assert not manager.add_source(AlphaVantageSource(), priority=2)
    assert "alpha_vantage skipped: ALPHA_VANTAGE_API_KEY is not set" in caplog.text
    assert manager.sources == []
    assert manager.source_stats()["alpha_vantage"] == {
        "configured": False,
        "state": "skipped",
        "reason": "ALPHA_VANTAGE_API_KEY is not set",
    }
    result = manager.get_asset_data(["AAPL"])["AAPL"]
    assert not result.success and result.error == "no market data source configured"


def test_invalid_and_duplicate_symbols() -> None:
    manager = DataSourceManager()
    manager.add_source(SimulatedSource())
    results = manager.get_asset_data(["aapl", " AAPL ", "bad sym", "x" * 30])
    assert list(results) == ["AAPL", "bad sym", "x" * 30]
    assert not results["bad sym"].success and "invalid symbol" in (results["bad sym"].error or "")
    assert results["AAPL"].success


class CrashingSource(SimulatedSource):
    """An adapter with a bug."""

    name = "crashing"

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        raise KeyError("bug")


def test_an_adapter_bug_is_contained_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    manager = DataSourceManager()
    manager.add_source(CrashingSource(), priority=1)
    manager.add_source(SimulatedSource(), priority=2)
    with caplog.at_level(logging.ERROR, logger="pricewire.price_feed"):
        result = manager.get_asset_data(["AAPL"])["AAPL"]
    assert result.success and result.source == "simulated"
    assert "crashing crashed" in caplog.text
    assert manager.source_stats()["crashing"]["last_error"] == "crashing: KeyError('bug')"


def test_history_falls_back_too(stub: StubServer, clock: FakeClock) -> None:
    stub.json("/v8/finance/chart/IBM", "yahoo_chart_not_found.json", status=404)
    stub.json(AV, "alpha_vantage_daily_ibm.json")
    points = build(stub, clock).get_history("ibm", 2)
    assert [p.source for p in points] == ["alpha_vantage", "alpha_vantage"]


def test_history_failure_lists_reasons(stub: StubServer, clock: FakeClock) -> None:
    stub.route("/v8/finance/chart/IBM", Reply("down", 500))
    stub.json(AV, "alpha_vantage_note.json")
    stub.json("/api/v1/stock/candle", "finnhub_no_data.json")
    with pytest.raises(MarketDataError) as caught:
        build(stub, clock).get_history("IBM", 2)
    message = str(caught.value)
    assert message.startswith("no history for IBM: yahoo_finance: server error (HTTP 500); alpha_vantage: throttled")
    assert "finnhub: IBM: no candle data" in message
    with pytest.raises(ValueError, match="days must be >= 1"):
        build(stub, clock).get_history("IBM", 0)
