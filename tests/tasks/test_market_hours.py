"""What the feed fetches, what clients are told and what /health says, with the market clock fixed.

Each scenario: a tracked symbol, the clock, when its price was observed; then a scheduled cycle, the
snapshot's market_state and stale flag, and /health.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask

from infra.feed_status import get_feed_status
from infra.settings import update_settings
from models.snapshots import quote_snapshots
from tasks import pipeline
from tasks.market_hours import CLOSING_PRINT_DELAY, exchange_summary, plan_fetches, record_fetches
from tests.support.sessions import at, track
from tests.tasks.feed_support import StubSource, manager_of, quote


@dataclass(frozen=True)
class Scenario:
    """One tracked symbol at one instant."""

    name: str
    symbol: str
    now: str
    price_at: str
    fetched: bool  # does a cycle fetch it (never fetched since the close)
    state: str
    stale: bool
    health: int


SCENARIOS = [
    Scenario("weekday session", "AAPL", "2026-11-25 15:00", "2026-11-25 14:59", True, "regular", False, 200),
    Scenario("weekday session, feed stuck", "AAPL", "2026-11-25 15:00", "2026-11-25 13:00", True, "regular",
             True, 503),
    Scenario("weekend", "AAPL", "2026-11-28 15:00", "2026-11-27 18:00", True, "closed", False, 200),
    Scenario("weekend, last week's price", "AAPL", "2026-11-28 15:00", "2026-11-20 21:00", True, "closed", True,
             200),
    Scenario("Thanksgiving", "AAPL", "2026-11-26 15:00", "2026-11-25 21:00", True, "closed", False, 200),
    Scenario("LSE Christmas Eve, open", "VOD.L", "2026-12-24 12:00", "2026-12-24 11:59", True, "regular", False,
             200),
    Scenario("LSE Christmas Eve, after the half day", "VOD.L", "2026-12-24 14:00", "2026-12-24 12:30", True,
             "closed", False, 200),
    Scenario("US DST: first Monday of summer time, open", "AAPL", "2026-03-09 13:35", "2026-03-09 13:34", True,
             "regular", False, 200),
    Scenario("UK DST: first Monday of summer time, open", "VOD.L", "2026-03-30 07:05", "2026-03-30 07:04", True,
             "regular", False, 200),
    Scenario("FX over a weekend", "EURUSD=X", "2026-11-28 15:00", "2026-11-27 21:59", True, "closed", False, 200),
    Scenario("crypto on a Sunday", "BTC-USD", "2026-11-29 12:00", "2026-11-29 11:59", True, "regular", False,
             200),
    Scenario("crypto on a Sunday, feed stuck", "BTC-USD", "2026-11-29 12:00", "2026-11-29 10:00", True,
             "regular", True, 503),
]


@pytest.fixture
def sessions_app(app: Flask) -> Flask:
    """The embedded app with the feed's session rules on (the test default turns them off)."""
    update_settings(app, realtime_fetch_when_closed=False)
    return app


@pytest.mark.parametrize("case", SCENARIOS, ids=[case.name for case in SCENARIOS])
def test_scenario(sessions_app: Flask, case: Scenario) -> None:
    sessions_app.config["MARKET_CLOCK"] = at(case.now)
    track(case.symbol, at(case.price_at))
    store = get_feed_status()

    plan = plan_fetches(store, [case.symbol])
    assert (case.symbol in plan.due) is case.fetched

    snapshot = quote_snapshots([case.symbol])[case.symbol]
    assert snapshot["market_state"] == case.state
    assert snapshot["stale"] is case.stale
    assert snapshot["session_date"] is not None

    store.heartbeat()
    response = sessions_app.test_client().get("/health")
    assert response.status_code == case.health, response.json
    market = response.json["services"]["markets"][snapshot["exchange"]]
    assert market["open"] is (case.state != "closed")
    assert market["stale"] is case.stale
    assert market["age_seconds"] == int((at(case.now) - at(case.price_at)).total_seconds())


def test_a_closed_market_gets_one_closing_print_then_nothing_until_pre_open(sessions_app: Flask) -> None:
    track("AAPL")
    track("BTC-USD")
    store = get_feed_status()
    close = at("2026-11-25 21:00")  # Wednesday 16:00 New York; post-market runs to 20:00 (01:00 UTC)
    after_post = at("2026-11-26 01:30")
    assert plan_fetches(store, ["AAPL", "BTC-USD"], now=after_post).due == ["AAPL", "BTC-USD"]
    record_fetches(store, ["AAPL", "BTC-USD"], after_post)
    later = plan_fetches(store, ["AAPL", "BTC-USD"], now=after_post + timedelta(hours=2))
    assert (later.due, later.skipped) == (["BTC-USD"], ["AAPL"])
    # Thanksgiving: no pre-open either. Friday 04:00 New York: pre-market, fetched again.
    assert plan_fetches(store, ["AAPL"], now=at("2026-11-26 15:00")).due == []
    assert plan_fetches(store, ["AAPL"], now=at("2026-11-27 09:00")).due == ["AAPL"]
    # A fetch too soon after a close (the print not settled) does not count as the closing print.
    london = at("2026-12-24 12:30")
    track("VOD.L")
    record_fetches(store, ["VOD.L"], london + timedelta(minutes=1))
    assert plan_fetches(store, ["VOD.L"], now=london + timedelta(minutes=20)).due == ["VOD.L"]
    record_fetches(store, ["VOD.L"], london + CLOSING_PRINT_DELAY)
    assert plan_fetches(store, ["VOD.L"], now=london + timedelta(minutes=30)).due == []
    assert close < after_post


def test_fetch_when_closed_setting_and_forced_refreshes_ignore_sessions(sessions_app: Flask) -> None:
    sessions_app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")
    track("AAPL")
    store = get_feed_status()
    record_fetches(store, ["AAPL"])
    assert plan_fetches(store, ["AAPL"]).skipped == ["AAPL"]
    update_settings(sessions_app, realtime_fetch_when_closed=True)
    assert plan_fetches(store, ["AAPL"]).due == ["AAPL"]
    update_settings(sessions_app, realtime_fetch_when_closed=False)
    # A forced batch (flask prices update, POST /api/prices/refresh) fetches whatever it is given.
    source = StubSource(quotes={"AAPL": quote("AAPL", "150.25")})
    batch = pipeline.run_batch(["AAPL"], force=True, manager=manager_of(source))
    assert batch.successes == 1 and source.calls == [["AAPL"]]


def test_a_cycle_on_saturday_fetches_crypto_only_after_the_closing_prints(sessions_app: Flask) -> None:
    sessions_app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")
    for symbol in ("AAPL", "VOD.L", "BTC-USD"):
        track(symbol)
    store = get_feed_status()
    first = pipeline.plan_cycle(store, 50, 30)
    assert first.symbols == ["AAPL", "BTC-USD", "VOD.L"]  # closing prints: never fetched since the close
    record_fetches(store, first.symbols)
    second = pipeline.plan_cycle(store, 50, 30)
    assert second.symbols == ["BTC-USD"]
    assert store.read()["closed_skipped"] == 2 and store.read()["assets_tracked"] == 3


def test_exchange_summary_lists_each_market() -> None:
    from models.exchanges import market_for_symbol
    from models.sessions import market_clock

    now = at("2026-11-28 15:00")
    summary = exchange_summary({s: market_clock(market_for_symbol(s), now) for s in ("AAPL", "MSFT", "BTC-USD")})
    assert summary["XNYS"]["open"] is False and summary["XNYS"]["symbols"] == ["AAPL", "MSFT"]
    assert summary["XNYS"]["next_open"] == at("2026-11-30 14:30")
    assert summary["CRYPTO"]["open"] is True


def test_old_prints_are_judged_by_the_calendar() -> None:
    from dataclasses import replace

    from tasks.market_data.freshness import mark_stale
    from tasks.market_hours import calendar_last_session_end

    saturday = at("2026-11-28 15:00")
    friday_close = quote("AAPL", "150.25", at=at("2026-11-27 18:00"))
    assert calendar_last_session_end(friday_close, saturday) == at("2026-11-27 18:00")
    assert mark_stale(friday_close, 300, saturday, calendar_last_session_end).stale is False
    wednesday = quote("AAPL", "150.25", at=at("2026-11-25 21:00"))
    assert mark_stale(wednesday, 300, saturday, calendar_last_session_end).stale is True
    # Crypto trades now; the quote's own exchange metadata (Yahoo's "LSE") wins over its symbol.
    assert calendar_last_session_end(quote("BTC-USD", "90000", at=saturday), saturday) == saturday
    london = replace(quote("VOD", "72", at=saturday), exchange="LSE", exchange_timezone="Europe/London")
    assert calendar_last_session_end(london, saturday) == at("2026-11-27 16:30")
