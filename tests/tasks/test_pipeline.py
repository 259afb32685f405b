"""The feed's plain functions on SQLite and PostgreSQL: store, dedupe, seq, publish, failures, queries."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from infra.bus import get_bus
from infra.feed_status import REQUEST_WINDOW_SECONDS, get_feed_status, request_symbols
from models import Asset, Portfolio, Position, User, WatchlistItem, db
from protocol.channels import FEED_CHANNEL, asset_channel
from tasks import pipeline
from tasks.market_data import QuoteResult, TransientSourceError
from tests.tasks.feed_support import T0, StubSource, drain, history_counts, manager_of, quote, stored_quotes


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request: pytest.FixtureRequest) -> Flask:
    """The embedded-mode app on in-memory SQLite, then on the migrated PostgreSQL (rolled back)."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


@pytest.fixture
def stub() -> StubSource:
    return StubSource(quotes={"AAPL": quote("AAPL", "150.25"), "MSFT": quote("MSFT", "420.50")})


@pytest.fixture
def listener(any_app: Flask) -> Iterator[object]:
    subscription = get_bus().listener()
    subscription.subscribe(asset_channel("AAPL"), asset_channel("MSFT"), FEED_CHANNEL)
    yield subscription
    subscription.close()


def test_batch_stores_quotes_and_history_then_publishes(any_app: Flask, stub: StubSource, listener) -> None:
    batch = pipeline.process_batch(["AAPL", "MSFT"], manager=manager_of(stub))

    assert batch.successes == 2 and batch.failed == {} and sorted(batch.changed) == ["AAPL", "MSFT"]
    quotes = stored_quotes()
    assert quotes["AAPL"].price == Decimal("150.25") and quotes["AAPL"].seq == 1
    assert quotes["AAPL"].last_updated == T0 and quotes["AAPL"].source == "stub"
    assert history_counts() == {"AAPL": 1, "MSFT": 1}
    messages = {m.channel: json.loads(m.data) for m in drain(listener)}
    aapl = messages[asset_channel("AAPL")]
    assert aapl["type"] == "asset_update" and isinstance(aapl["published_at"], float)
    assert aapl["data"]["symbol"] == "AAPL" and aapl["data"]["price"] == 150.25
    assert aapl["data"]["seq"] == 1 and aapl["data"]["source"] == "stub"
    assert aapl["data"]["last_updated"] == "2026-01-05T15:30:00Z"


def test_rerunning_a_batch_stores_and_publishes_nothing_new(any_app: Flask, stub: StubSource, listener) -> None:
    manager = manager_of(stub)
    pipeline.process_batch(["AAPL", "MSFT"], manager=manager)
    drain(listener)

    again = pipeline.process_batch(["AAPL", "MSFT"], manager=manager)

    assert again.changed == [] and again.published == 0 and drain(listener) == []
    assert history_counts() == {"AAPL": 1, "MSFT": 1}
    assert {s: q.seq for s, q in stored_quotes().items()} == {"AAPL": 1, "MSFT": 1}


def test_a_change_in_price_or_volume_bumps_seq_and_appends_history(any_app: Flask, stub: StubSource) -> None:
    manager = manager_of(stub)
    pipeline.process_batch(["AAPL", "MSFT"], manager=manager)
    stub.quotes["AAPL"] = quote("AAPL", "151.00", at=T0 + timedelta(minutes=1))
    stub.quotes["MSFT"] = quote("MSFT", "420.50", volume=2000, at=T0 + timedelta(minutes=1))

    batch = pipeline.process_batch(["AAPL", "MSFT"], manager=manager)

    assert sorted(batch.changed) == ["AAPL", "MSFT"]
    quotes = stored_quotes()
    assert (quotes["AAPL"].seq, quotes["AAPL"].price) == (2, Decimal("151.00"))
    assert (quotes["MSFT"].seq, quotes["MSFT"].volume) == (2, 2000)
    assert history_counts() == {"AAPL": 2, "MSFT": 2}


def test_an_older_quote_never_replaces_a_newer_one(any_app: Flask, stub: StubSource) -> None:
    manager = manager_of(stub)
    pipeline.process_batch(["AAPL"], manager=manager)
    stub.quotes["AAPL"] = quote("AAPL", "149.00", at=T0 - timedelta(minutes=5))

    batch = pipeline.process_batch(["AAPL"], manager=manager)

    assert batch.changed == []
    assert (stored_quotes()["AAPL"].price, stored_quotes()["AAPL"].seq) == (Decimal("150.25"), 1)


def test_a_new_symbol_gets_an_asset(any_app: Flask) -> None:
    source = StubSource(quotes={"EURUSD=X": quote("EURUSD=X", "1.0945")})

    pipeline.process_batch(["EURUSD=X"], manager=manager_of(source))

    asset = db.session.scalar(sa.select(Asset).where(Asset.symbol == "EURUSD=X"))
    assert asset is not None and asset.currency == "USD" and stored_quotes()["EURUSD=X"].seq == 1


def test_dry_run_fetches_but_changes_nothing(any_app: Flask, stub: StubSource, listener) -> None:
    batch = pipeline.process_batch(["AAPL", "MSFT", "NOPE"], dry_run=True, manager=manager_of(stub))

    assert batch.successes == 2 and list(batch.failed) == ["NOPE"] and batch.dry_run
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Asset)) == 0
    assert stored_quotes() == {} and drain(listener) == []
    assert get_feed_status().failed_updates() == {}


def test_without_publish_nothing_reaches_the_bus(any_app: Flask, stub: StubSource, listener) -> None:
    batch = pipeline.process_batch(["AAPL"], publish=False, manager=manager_of(stub))

    assert batch.changed == ["AAPL"] and batch.published == 0 and drain(listener) == []


def test_the_batch_database_work_is_a_bounded_number_of_queries(any_app: Flask) -> None:
    """Benchmarks count queries per batch: the same few statements for 5 symbols as for 60."""

    def statements_for(count: int, offset: int) -> int:
        symbols = [f"S{offset + n}" for n in range(count)]
        results = {s: quote(s, f"{10 + n}.5") for n, s in enumerate(symbols)}
        pipeline.store_quotes(results)  # first time: creates the assets
        moved = {s: quote(s, f"{20 + n}.5", at=T0 + timedelta(minutes=1)) for n, s in enumerate(symbols)}
        seen: list[str] = []

        def count_statement(*args: object) -> None:
            statement = str(args[2])  # (conn, cursor, statement, parameters, context, executemany)
            if statement.lstrip().split()[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
                seen.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count_statement)
        try:
            pipeline.store_quotes(moved)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count_statement)
        return len(seen)

    small, large = statements_for(5, 0), statements_for(60, 100)
    assert small == large <= 3  # load assets+quotes, upsert quotes, append history


def test_failures_are_recorded_retried_next_cycle_and_cleared(any_app: Flask, stub: StubSource) -> None:
    store = get_feed_status()
    pipeline.process_batch(["AAPL", "GHOST"], manager=manager_of(stub))

    assert list(store.failed_updates()) == ["GHOST"]
    assert "unknown symbol" in store.failed_updates()["GHOST"]["error"]
    assert "GHOST" in pipeline.pick_tracked_symbols(store)

    stub.quotes["GHOST"] = quote("GHOST", "5")
    pipeline.process_batch(["GHOST"], manager=manager_of(stub))
    assert store.failed_updates() == {}


def test_failover_and_recovery_are_announced_once(any_app: Flask, listener) -> None:
    primary = StubSource("primary", {"AAPL": quote("AAPL", "150", source="primary")})
    backup = StubSource("backup", {"AAPL": quote("AAPL", "150.5", source="backup")})
    manager = manager_of(primary, backup)
    primary.error = TransientSourceError("primary: server error (HTTP 503)")

    first = pipeline.process_batch(["AAPL"], manager=manager)
    pipeline.process_batch(["AAPL"], manager=manager)
    primary.error = None
    pipeline.process_batch(["AAPL"], manager=manager)

    assert first.results["AAPL"].source == "backup"
    feed = [json.loads(m.data)["data"] for m in drain(listener) if m.channel == FEED_CHANNEL]
    assert [(item["status"], item["source"]) for item in feed] == [("failover", "backup"), ("recovered", "primary")]


def test_stale_is_announced_once_and_cleared_by_fresh_quotes(any_app: Flask, stub: StubSource, listener) -> None:
    store, bus = get_feed_status(), get_bus()
    store.write(last_success_at=1.0)  # long ago

    assert pipeline.check_stale(store, bus, stale_after=300, tracking=True)
    assert pipeline.check_stale(store, bus, stale_after=300, tracking=True)
    pipeline.process_batch(["AAPL"], manager=manager_of(stub))

    feed = [json.loads(m.data)["data"]["status"] for m in drain(listener) if m.channel == FEED_CHANNEL]
    assert feed == ["stale", "ok"]
    assert not pipeline.check_stale(store, bus, stale_after=300, tracking=True)


def test_changed_symbols_go_to_portfolio_valuation(any_app: Flask, stub: StubSource,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(pipeline, "revalue_for_symbols", lambda symbols: calls.append(sorted(symbols)))
    manager = manager_of(stub)

    pipeline.process_batch(["AAPL", "MSFT"], manager=manager)
    pipeline.process_batch(["AAPL", "MSFT"], manager=manager)  # unchanged: nothing to revalue

    assert calls == [["AAPL", "MSFT"]]


def test_tracked_symbols_are_held_watched_requested_and_fx(any_app: Flask) -> None:
    user = User(username="tracker")
    user.set_password("pw-123456")
    held = Asset(symbol="AAPL", currency="USD")
    sold = Asset(symbol="SOLD", currency="USD")
    inactive = Asset(symbol="DEAD", currency="USD", is_active=False)
    euro = Asset(symbol="SAP.DE", currency="EUR")
    short = Asset(symbol="GME", currency="USD")
    watched = Asset(symbol="NFLX", currency="USD")
    watched_inactive = Asset(symbol="GONE", currency="USD", is_active=False)
    portfolio = Portfolio(owner=user, name="p", base_currency="USD")
    db.session.add(user)
    db.session.flush()
    db.session.add_all([WatchlistItem(user_id=user.id, asset=watched),
                        WatchlistItem(user_id=user.id, asset=watched_inactive)])
    db.session.add_all([
        Position(portfolio=portfolio, asset=held, quantity=Decimal(3), cost_basis=Decimal(300)),
        Position(portfolio=portfolio, asset=sold, quantity=Decimal(0), cost_basis=Decimal(0)),
        Position(portfolio=portfolio, asset=inactive, quantity=Decimal(1), cost_basis=Decimal(1)),
        Position(portfolio=portfolio, asset=euro, quantity=Decimal(1), cost_basis=Decimal(100)),
        Position(portfolio=portfolio, asset=short, quantity=Decimal(-5), cost_basis=Decimal(-100)),
    ])
    db.session.commit()
    store = get_feed_status()
    request_symbols(["TSLA", "OLD"])
    store._requested["OLD"] -= REQUEST_WINDOW_SECONDS + 1  # requested eleven minutes ago

    tracked = pipeline.pick_tracked_symbols(store)

    assert tracked == sorted(tracked)
    assert {"AAPL", "SAP.DE", "TSLA", "NFLX", "GME"} <= set(tracked)  # shorts are refreshed too
    assert not {"SOLD", "DEAD", "OLD", "GONE"} & set(tracked)
    assert "EURUSD=X" in tracked  # the FX pair the portfolio tracker asks for


def test_split_batches() -> None:
    assert pipeline.split_batches(["A", "B", "C", "D", "E"], 2) == [["A", "B"], ["C", "D"], ["E"]]
    assert pipeline.split_batches([], 50) == []


@pytest.mark.parametrize(("reason", "transient"), [
    ("yahoo_finance: server error (HTTP 503)", True),
    ("yahoo_finance: timed out after 10.0s; simulated: simulated failure", True),
    ("finnhub: connection error (ConnectionError)", True),
    ("yahoo_finance: request rejected (HTTP 404)", False),
    ("alpha_vantage: authentication failed (HTTP 401)", False),
    ("yahoo_finance: throttled (HTTP 429)", False),
    ("yahoo_finance: circuit open after repeated failures", False),
    ("yahoo_finance: unknown symbol; alpha_vantage: unknown symbol", False),
    ("invalid symbol 'X$'", False),
    (None, False),
])
def test_only_transient_failures_are_retried(reason: str | None, transient: bool) -> None:
    assert pipeline.is_transient(reason) is transient


def test_retry_policy_backs_off_with_jitter_and_gives_up() -> None:
    failing = QuoteResult.failure("AAPL", "none", "yahoo_finance: server error (HTTP 502)")
    batch = pipeline.BatchResult(["AAPL"], {"AAPL": failing}, {"AAPL": failing.error or ""}, ["AAPL"])
    rng = random.Random(7)

    assert [pipeline.should_retry(batch, n) for n in range(pipeline.MAX_RETRIES + 1)] == [["AAPL"]] * 3 + [[]]
    delays = [pipeline.retry_countdown(n, interval=30, rng=rng) for n in range(6)]
    ceilings = [1, 2, 4, 8, 15, 15]  # doubling, capped at half the interval
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered


def test_cycles_read_the_cache_only_when_it_expires_within_an_interval() -> None:
    assert pipeline.cycle_force(cache_timeout=300, interval=30)
    assert pipeline.cycle_force(cache_timeout=0, interval=30)
    assert not pipeline.cycle_force(cache_timeout=20, interval=30)


def test_run_batch_retries_transient_failures_in_process(any_app: Flask) -> None:
    flaky = StubSource(quotes={"AAPL": quote("AAPL", "150.25")})
    flaky.error = TransientSourceError("stub: server error (HTTP 503)")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            flaky.error = None  # the provider fails twice, then answers

    batch = pipeline.run_batch(["AAPL"], sleep=sleep, manager=manager_of(flaky))

    assert batch.failed == {} and batch.changed == ["AAPL"] and len(flaky.calls) == 3
    assert stored_quotes()["AAPL"].seq == 1


def test_history_is_appended_once(any_app: Flask, stub: StubSource) -> None:
    points = manager_of(stub).get_history("AAPL", 3)

    assert pipeline.store_history("AAPL", points) == 3
    assert pipeline.store_history("AAPL", points) == 0
    assert history_counts() == {"AAPL": 3}
