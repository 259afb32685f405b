"""The offline simulated market: a pure function of (seed, symbol, instant), the same in every process."""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tasks.market_data import QuoteResult, RateLimitedError, SimulatedSource, SymbolError
from tasks.market_data.brownian import DAY_MICROS, BrownianDay
from tasks.market_data.simulated import _profile
from tests.tasks.market_data.conftest import MarketConfig

SYMBOLS = ["AAPL", "MSFT", "EURUSD=X", "GBPUSD=X"]
FRIDAY = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
#: One second in the simulator's time unit: a trading minute is 1 / (252 * 390) years.
SECOND = 1 / (252 * 390) / 60
ROOT = Path(__file__).resolve().parents[3]


class WallClock:
    """A datetime clock moved by hand."""

    def __init__(self, now: datetime = FRIDAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def quote(source: SimulatedSource, clock: WallClock, at: datetime, symbol: str = "AAPL") -> QuoteResult:
    """The symbol's quote at ``at``."""
    clock.now = at
    return source.fetch_quotes([symbol])[symbol]


def instants(start: datetime, count: int, step: timedelta) -> list[datetime]:
    """``count`` instants from ``start``, ``step`` apart."""
    return [start + step * i for i in range(count)]


def test_two_sources_with_one_seed_agree_at_every_instant_and_another_seed_differs() -> None:
    clock = WallClock()
    first, second, other = (SimulatedSource(seed=s, clock=clock) for s in (7, 7, 8))
    for at in instants(FRIDAY, 20, timedelta(seconds=37, microseconds=123_456)):
        clock.now = at
        expected = first.fetch_quotes(SYMBOLS)
        assert second.fetch_quotes(SYMBOLS) == expected
        assert {s: q.price for s, q in other.fetch_quotes(SYMBOLS).items()} != {s: q.price for s, q in expected.items()}


def test_a_quote_ignores_what_was_fetched_before_and_alongside() -> None:
    clock = WallClock()
    busy, fresh = SimulatedSource(seed=3, clock=clock), SimulatedSource(seed=3, clock=clock)
    for at in instants(FRIDAY, 30, timedelta(minutes=17)):  # fills its memo of the day, later and later
        quote(busy, clock, at)
    # Back in time, with other symbols in the request: the memo must not leak into the answer.
    clock.now = FRIDAY - timedelta(hours=3, seconds=1)
    assert busy.fetch_quotes(["TSLA", "AAPL"])["AAPL"] == fresh.fetch_quotes(["AAPL"])["AAPL"]


CHILD = """
import json, sys
from datetime import datetime
from tasks.market_data import SimulatedSource
at = iter(datetime.fromisoformat(s) for s in sys.argv[1:])
source = SimulatedSource(seed=11, clock=lambda: next(at))
print(json.dumps([{s: q.as_dict() for s, q in source.fetch_quotes(%r).items()} for _ in sys.argv[1:]],
                 default=str))
"""


def test_separate_os_processes_compute_the_same_quotes() -> None:
    moments = [FRIDAY + timedelta(seconds=s) for s in (0, 1, 2, 3600.5, 30_000.25)]
    clock = iter(reversed(moments))  # another order than the children's: memos must not matter
    here = SimulatedSource(seed=11, clock=lambda: next(clock))
    expected = [{s: q.as_dict() for s, q in here.fetch_quotes(SYMBOLS).items()} for _ in moments][::-1]
    for hash_seed in ("1", "2"):  # hash() differs per process; the prices must not
        child = subprocess.run(
            [sys.executable, "-c", CHILD % SYMBOLS, *(m.isoformat() for m in moments)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            timeout=60,
            env={**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)},
        )
        theirs = json.loads(child.stdout)
        assert [{s: QuoteResult.from_dict(q) for s, q in row.items()} for row in theirs] == [
            {s: QuoteResult.from_dict(q) for s, q in row.items()} for row in expected
        ]


def test_the_brownian_path_moves_every_second_by_a_brownian_amount() -> None:
    paths = [BrownianDay(42, symbol, "2024-01-05", span_years=86_400 * SECOND) for symbol in ("AAPL", "KO", "X")]
    step = 1_000_000
    one_second, one_minute = [], []
    for path in paths:
        for start in range(0, DAY_MICROS - 60 * step, 60 * step + 123_457):  # ~1400 starts per path
            w = path.at(start)
            one_second.append(path.at(start + step) - w)
            one_minute.append(path.at(start + 60 * step) - w)
    assert all(d != 0 for d in one_second)
    assert max(abs(d) for d in one_second) < 10 * math.sqrt(SECOND)
    # Exact Brownian motion: increments have mean 0 and variance = elapsed time.
    assert 0.9 < statistics.fmean(d * d for d in one_minute) / (60 * SECOND) < 1.1
    assert abs(statistics.fmean(one_minute)) < 0.1 * math.sqrt(60 * SECOND)


def test_quotes_one_second_apart_are_close_and_the_price_keeps_moving() -> None:
    clock = WallClock()
    source = SimulatedSource(clock=clock)
    for symbol in ("AAPL", "NVDA", "KO", "EURUSD=X"):
        sigma, tick = _profile(symbol).volatility, _profile(symbol).step
        quotes = [quote(source, clock, at, symbol) for at in instants(FRIDAY, 600, timedelta(seconds=1))]
        prices = [q.price or Decimal(0) for q in quotes]
        for before, after in itertools.pairwise(prices):
            # A 1 s move is within 10 standard deviations, plus one tick of rounding.
            assert abs(after - before) <= before * Decimal(10 * sigma * math.sqrt(SECOND)) + tick
        assert len(set(prices)) > 5


def test_quotes_are_consistent_and_volume_accumulates_within_the_day() -> None:
    clock = WallClock()
    source = SimulatedSource(clock=clock)
    start = datetime(2024, 1, 4, tzinfo=UTC)
    moments = [
        *instants(start, 300, timedelta(minutes=4, seconds=47)),
        *instants(start.replace(hour=23), 100, timedelta(seconds=1)),
    ]
    quotes = [quote(source, clock, at) for at in sorted(moments)]
    for q in quotes:
        assert q.success and q.source == "simulated" and q.currency == "USD" and q.price and q.price > 0
        assert q.high is not None and q.low is not None and q.low <= q.price <= q.high
        assert q.previous_close is not None and q.change == q.price - q.previous_close
        assert q.low <= q.previous_close <= q.high  # the day opens at the previous close
        assert q.market_cap is not None and q.market_cap > 0
    volumes = [q.volume or 0 for q in quotes]
    assert volumes == sorted(volumes) and len(set(volumes)) == len(volumes)
    assert (quote(source, clock, start + timedelta(days=1)).volume or 0) < volumes[-1] // 100  # restarts


def test_high_and_low_cover_the_prices_seen_on_the_sampling_grid() -> None:
    clock = WallClock()
    source = SimulatedSource(clock=clock)
    midnight = datetime(2024, 1, 5, tzinfo=UTC)
    seen = [quote(source, clock, at).price or 0 for at in instants(midnight, 80, timedelta(seconds=675))]
    last = quote(source, clock, midnight + timedelta(seconds=80 * 675 - 1))
    seen.append(last.price or 0)
    assert last.high == max(seen) and last.low == min(seen)


def test_previous_close_is_fixed_for_the_day_and_changes_at_midnight() -> None:
    clock = WallClock()
    source = SimulatedSource(clock=clock)
    thursday = datetime(2024, 1, 4, tzinfo=UTC)
    day = [quote(source, clock, thursday + timedelta(seconds=s)) for s in (0, 1, 3600, 50_000, 86_399.999999)]
    assert len({q.previous_close for q in day}) == 1
    assert day[0].price == day[0].previous_close  # W(0) = 0: the day opens at the previous close
    friday = quote(source, clock, thursday + timedelta(days=1))
    assert friday.previous_close != day[0].previous_close


def test_symbols_have_their_own_volatility() -> None:
    clock = WallClock()
    source = SimulatedSource(clock=clock)

    def spread(symbol: str) -> Decimal:
        prices = [
            quote(source, clock, at, symbol).price or Decimal(0) for at in instants(FRIDAY, 200, timedelta(minutes=1))
        ]
        return (max(prices) - min(prices)) / prices[0]

    assert spread("AAPL") != spread("KO")


def test_fx_symbols_get_sensible_prices() -> None:
    source = SimulatedSource(clock=WallClock())
    quotes = source.fetch_quotes(["EURUSD=X", "GBPUSD=X", "USDJPY=X"])
    assert abs((quotes["EURUSD=X"].price or 0) - Decimal("1.10")) < Decimal("0.05")
    assert abs((quotes["GBPUSD=X"].price or 0) - Decimal("1.27")) < Decimal("0.05")
    assert quotes["EURUSD=X"].price == (quotes["EURUSD=X"].price or Decimal(0)).quantize(Decimal("0.0001"))
    assert quotes["USDJPY=X"].currency == "JPY" and quotes["EURUSD=X"].market_cap is None


def test_any_symbol_is_accepted_and_fail_symbols_fail() -> None:
    source = SimulatedSource(fail_symbols=["boom"], clock=WallClock())
    results = source.fetch_quotes(["ANYTHING123", "BOOM"])
    assert results["ANYTHING123"].success
    assert not results["BOOM"].success and results["BOOM"].error == "simulated: simulated failure"
    with pytest.raises(SymbolError, match="simulated failure"):
        source.fetch_history("BOOM", 5)


def test_from_config_reads_seed_failures_latency_and_limit(market_config: MarketConfig) -> None:
    source = SimulatedSource.from_config(
        market_config(SIMULATED_SEED="9", SIMULATED_FAIL_SYMBOLS="AAA, bbb", SIMULATED_LATENCY_MS=25)
    )
    assert source.seed == 9 and source.fail_symbols == {"AAA", "BBB"} and source.latency_ms == 25
    assert source.rate_limit == 0  # SIMULATED_RATE_LIMIT unset: the class default
    assert SimulatedSource.from_config(market_config(SIMULATED_RATE_LIMIT=3)).rate_limit == 3


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


def test_history_is_the_weekdays_closes_that_quotes_show_as_previous_close() -> None:
    clock = WallClock()
    source = SimulatedSource(seed=5, clock=clock)
    points = source.fetch_history("AAPL", 10)
    assert points == SimulatedSource(seed=5, clock=clock).fetch_history("AAPL", 10)
    assert len(points) == 10 and all(p.timestamp.weekday() < 5 and p.timestamp.hour == 21 for p in points)
    assert [p.timestamp for p in points] == sorted(p.timestamp for p in points)
    assert points[-1].timestamp.date() == date(2024, 1, 4)
    assert all(p.volume and p.volume > 0 for p in points)
    # Each close is the previous close quoted on the next day (Friday's on Saturday, Sunday and Monday).
    for point in points:
        day_after = point.timestamp.replace(hour=12) + timedelta(days=1)
        assert quote(source, clock, day_after).previous_close == point.price
    for monday_or_weekend in (datetime(2024, 1, 8, 9, tzinfo=UTC), datetime(2024, 1, 7, 9, tzinfo=UTC)):
        clock.now = monday_or_weekend
        assert source.fetch_history("AAPL", 1)[0].timestamp.date() == date(2024, 1, 5)
        assert source.fetch_history("AAPL", 1)[0].price == quote(source, clock, monday_or_weekend).previous_close
