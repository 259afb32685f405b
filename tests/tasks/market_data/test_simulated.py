"""The offline simulated market: deterministic per seed, fixed previous close, scripted failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tasks.market_data import RateLimitedError, SimulatedSource, SymbolError

SYMBOLS = ["AAPL", "MSFT", "EURUSD=X", "GBPUSD=X"]


class WallClock:
    """A datetime clock moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def run(source: SimulatedSource, steps: int) -> list[dict[str, Decimal | None]]:
    """Prices of every symbol over ``steps`` fetches."""
    return [{s: r.price for s, r in source.fetch_quotes(SYMBOLS).items()} for _ in range(steps)]


def test_same_seed_same_sequence_and_other_seed_differs() -> None:
    clock = WallClock()
    first = run(SimulatedSource(seed=7, clock=clock), 20)
    assert run(SimulatedSource(seed=7, clock=clock), 20) == first
    assert run(SimulatedSource(seed=8, clock=clock), 20) != first


def test_each_symbol_is_independent_of_what_else_is_asked() -> None:
    clock = WallClock()
    alone = SimulatedSource(seed=3, clock=clock)
    together = SimulatedSource(seed=3, clock=clock)
    solo = [alone.fetch_quotes(["AAPL"])["AAPL"].price for _ in range(5)]
    mixed = [together.fetch_quotes(["AAPL", "TSLA"])["AAPL"].price for _ in range(5)]
    assert solo == mixed


def test_prices_move_and_quotes_are_consistent() -> None:
    source = SimulatedSource(clock=WallClock())
    quotes = [source.fetch_quotes(["AAPL"])["AAPL"] for _ in range(50)]
    assert len({q.price for q in quotes}) > 1
    for quote in quotes:
        assert quote.success and quote.source == "simulated" and quote.currency == "USD"
        assert quote.price is not None and quote.price > 0
        assert quote.high is not None and quote.low is not None and quote.low <= quote.price <= quote.high
        assert quote.previous_close is not None and quote.change == quote.price - quote.previous_close
        assert quote.market_cap is not None and quote.market_cap > 0
    volumes = [q.volume or 0 for q in quotes]
    assert volumes == sorted(volumes)  # cumulative for the day


def test_previous_close_is_fixed_for_the_day_then_rolls() -> None:
    clock = WallClock()
    source = SimulatedSource(clock=clock)
    quotes = [source.fetch_quotes(["AAPL"])["AAPL"] for _ in range(30)]
    assert len({q.previous_close for q in quotes}) == 1
    clock.now += timedelta(days=1)
    next_day = source.fetch_quotes(["AAPL"])["AAPL"]
    assert next_day.previous_close == quotes[-1].price


def test_symbols_have_their_own_volatility() -> None:
    source = SimulatedSource(clock=WallClock())

    def spread(symbol: str) -> Decimal:
        prices = [source.fetch_quotes([symbol])[symbol].price or Decimal(0) for _ in range(200)]
        return (max(prices) - min(prices)) / prices[0]

    assert spread("AAPL") != spread("KO")


def test_fx_symbols_get_sensible_prices() -> None:
    source = SimulatedSource(clock=WallClock())
    quotes = source.fetch_quotes(["EURUSD=X", "GBPUSD=X", "USDJPY=X"])
    assert abs((quotes["EURUSD=X"].price or 0) - Decimal("1.10")) < Decimal("0.05")
    assert abs((quotes["GBPUSD=X"].price or 0) - Decimal("1.27")) < Decimal("0.05")
    assert quotes["USDJPY=X"].currency == "JPY" and quotes["EURUSD=X"].market_cap is None


def test_any_symbol_is_accepted_and_fail_symbols_fail() -> None:
    source = SimulatedSource(fail_symbols=["boom"], clock=WallClock())
    results = source.fetch_quotes(["ANYTHING123", "BOOM"])
    assert results["ANYTHING123"].success
    assert not results["BOOM"].success and results["BOOM"].error == "simulated: simulated failure"
    with pytest.raises(SymbolError, match="simulated failure"):
        source.fetch_history("BOOM", 5)


def test_from_config_reads_seed_failures_latency_and_limit() -> None:
    source = SimulatedSource.from_config(
        {"SIMULATED_SEED": "9", "SIMULATED_FAIL_SYMBOLS": "AAA, bbb", "SIMULATED_LATENCY_MS": 25}
    )
    assert source.seed == 9 and source.fail_symbols == {"AAA", "BBB"} and source.latency_ms == 25
    assert source.rate_limit == 0


def test_latency_is_spent_per_request() -> None:
    naps: list[float] = []
    source = SimulatedSource(latency_ms=40, sleep=naps.append, clock=WallClock())
    source.fetch_quotes(SYMBOLS)
    source.fetch_history("AAPL", 3)
    assert naps == [0.04, 0.04]


def test_rate_limit_permit_is_consulted_per_request() -> None:
    source = SimulatedSource(rate_limit=1, clock=WallClock())
    grants = iter([True, False])
    source.bind_permit(lambda: next(grants))
    assert source.fetch_quotes(["AAPL"])["AAPL"].success
    with pytest.raises(RateLimitedError) as caught:
        source.fetch_quotes(["AAPL"])
    assert caught.value.local


def test_history_is_deterministic_weekdays_ending_at_previous_close() -> None:
    clock = WallClock()
    source = SimulatedSource(seed=5, clock=clock)
    points = source.fetch_history("AAPL", 10)
    assert points == SimulatedSource(seed=5, clock=clock).fetch_history("AAPL", 10)
    assert len(points) == 10 and all(p.timestamp.weekday() < 5 for p in points)
    assert [p.timestamp for p in points] == sorted(p.timestamp for p in points)
    assert points[-1].timestamp.date() == datetime(2024, 1, 4).date()
    assert points[-1].price == source.fetch_quotes(["AAPL"])["AAPL"].previous_close
