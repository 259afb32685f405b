"""Offline simulated market: prices are a pure function of (seed, symbol, time)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Self

from .base import HistoryPoint, MarketDataSource, QuoteResult, SymbolError
from .brownian import DAY_MICROS, GRID_LEVEL, BrownianDay, hashed_int, hashed_normal
from .settings import setting_float, setting_int, setting_optional_int, setting_symbols

__all__ = ["SimulatedSource"]

# One trading minute is 1/(252 * 390) of a trading year; the simulated market trades 24 h a day.
_STEP_DT = 1 / (252 * 390)
_YEARS_PER_MICRO = _STEP_DT / 60_000_000
_DAY_SPAN = DAY_MICROS * _YEARS_PER_MICRO
_DAY_DT = 1 / 252
_DRIFT = 0.05
_GRID_MICROS = DAY_MICROS >> GRID_LEVEL  # high/low sample every 675 s
_PERCENT = Decimal("0.0001")
_FX_RATES = {
    "EURUSD": "1.10",
    "GBPUSD": "1.27",
    "USDJPY": "150.0",
    "AUDUSD": "0.66",
    "USDCHF": "0.88",
    "USDCAD": "1.36",
    "NZDUSD": "0.61",
    "EURGBP": "0.86",
}


@dataclass(frozen=True, slots=True)
class _Profile:
    """Fixed per-symbol traits derived from the symbol alone."""

    base_price: Decimal
    volatility: float
    step: Decimal  # price tick to quantize to
    currency: str
    shares: int | None  # None for FX: no market cap


@lru_cache(maxsize=65_536)
def _profile(symbol: str) -> _Profile:
    """Derive traits deterministically from the symbol."""
    h = hashed_int("profile", symbol)
    if symbol.endswith("=X"):
        pair = symbol[:-2]
        rate = _FX_RATES.get(pair) or str(Decimal(50 + h % 150) / 100)
        quote_ccy = pair[3:6] if len(pair) == 6 else "USD"
        step = Decimal("0.001") if quote_ccy == "JPY" else Decimal("0.0001")
        return _Profile(Decimal(rate), (500 + h % 700) / 10_000, step, quote_ccy, None)
    price = Decimal(1_000 + h % 49_000) / 100
    volatility = (1_500 + (h >> 16) % 4_500) / 10_000
    return _Profile(price, volatility, Decimal("0.01"), "USD", 50_000_000 + (h >> 32) % 4_950_000_000)


def _scaled(price: Decimal, log_return: float, step: Decimal) -> Decimal:
    """Price * exp(log_return), quantized to the tick (monotone in log_return)."""
    return (price * Decimal(repr(math.exp(log_return)))).quantize(step)


def _close(seed: int, symbol: str, profile: _Profile, day: date) -> Decimal:
    """Close of ``day``: independent draws around the base price, one daily sigma wide."""
    z = hashed_normal(seed, symbol, "close", day.isoformat())
    return _scaled(profile.base_price, profile.volatility * math.sqrt(_DAY_DT) * z, profile.step)


def _daily_volume(seed: int, symbol: str, day: date) -> int:
    """Volume traded over ``day``."""
    return 1_000_000 + hashed_int(seed, symbol, "volume", day.isoformat()) % 49_000_000


def _weekday_before(day: date) -> date:
    """The last weekday strictly before ``day``."""
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


class _SymbolDay:
    """Memoised pure values of one symbol on one UTC day; identical in every process."""

    __slots__ = ("drift", "high_x", "low_x", "mix", "path", "previous_close", "sigma", "upto", "volume")

    def __init__(self, seed: int, symbol: str, profile: _Profile, day: date) -> None:
        self.path = BrownianDay(seed, symbol, day.isoformat(), span_years=_DAY_SPAN)
        self.previous_close = _close(seed, symbol, profile, _weekday_before(day))
        self.sigma = profile.volatility
        self.drift = _DRIFT - self.sigma * self.sigma / 2
        self.volume = _daily_volume(seed, symbol, day)
        self.mix = hashed_int(seed, symbol, "ticks", day.isoformat())
        # Running extremes of the log return over grid points 0..upto (grid point 0 is the open).
        self.upto, self.high_x, self.low_x = 0, 0.0, 0.0

    def log_return(self, micros: int, w: float) -> float:
        """log(P(t) / previous close) = (mu - sigma^2/2) tau + sigma W(tau)."""
        return self.drift * (micros * _YEARS_PER_MICRO) + self.sigma * w

    def _grid_returns(self, start: int, stop: int) -> list[float]:
        """Log returns at grid points start..stop-1."""
        grid = self.path.grid(stop - 1)
        return [self.log_return(i * _GRID_MICROS, grid[i]) for i in range(start, stop)]

    def extremes(self, k: int) -> tuple[float, float]:
        """Max and min log return over grid points 0..k."""
        if k < self.upto:  # an injected clock went back: rare, scan
            values = self._grid_returns(0, k + 1)
            return max(values), min(values)
        if k > self.upto:
            values = self._grid_returns(self.upto + 1, k + 1)
            self.high_x, self.low_x = max(self.high_x, *values), min(self.low_x, *values)
            self.upto = k
        return self.high_x, self.low_x

    def volume_at(self, micros: int) -> int:
        """Cumulative volume: a straight line plus a per-second jitter smaller than its slope."""
        seconds = micros // 1_000_000
        jitter = (((seconds ^ self.mix) * 0x9E3779B97F4A7C15) & (2**64 - 1)) >> 32
        return self.volume * seconds // 86_400 + jitter % (self.volume // 86_400)


class SimulatedSource(MarketDataSource):
    """Deterministic offline market; symbols in ``fail_symbols`` always fail."""

    name = "simulated"
    requires_key = False
    batch_size = 500
    default_base_url = None
    default_rate_limit = 0

    def __init__(
        self,
        api_key: str | None = None,
        rate_limit: int | None = None,
        *,
        seed: int = 42,
        fail_symbols: Iterable[str] = (),
        latency_ms: float = 0,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(api_key=api_key, rate_limit=rate_limit)
        self.seed = int(seed)
        self.fail_symbols = frozenset(s.strip().upper() for s in fail_symbols)
        self.latency_ms = latency_ms
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        # Memo only: every value in it is a pure function of (seed, symbol, day).
        self._days: dict[date, dict[str, _SymbolDay]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from SIMULATED_* settings."""
        return cls(
            rate_limit=setting_optional_int(config, "SIMULATED_RATE_LIMIT"),
            seed=setting_int(config, "SIMULATED_SEED", minimum=-(2**63)),
            fail_symbols=setting_symbols(config, "SIMULATED_FAIL_SYMBOLS"),
            latency_ms=setting_float(config, "SIMULATED_LATENCY_MS"),
        )

    def _request(self) -> None:
        """Spend one request of rate limit and the configured latency."""
        self.acquire_request()
        if self.latency_ms:
            self._sleep(self.latency_ms / 1000)

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        """Quote each symbol at the clock's current instant."""
        self._request()
        now = self._clock()
        utc = now.astimezone(UTC)
        micros = ((utc.hour * 60 + utc.minute) * 60 + utc.second) * 1_000_000 + utc.microsecond
        results = {}
        with self._lock:
            memo = self._memo(utc.date())
            for symbol in symbols:
                if symbol.upper() in self.fail_symbols:
                    results[symbol] = QuoteResult.failure(symbol, self.name, "simulated: simulated failure")
                else:
                    results[symbol] = self._quote(symbol, memo, utc.date(), micros, now)
        return results

    def _memo(self, day: date) -> dict[str, _SymbolDay]:
        """The per-symbol memo of ``day``, keeping at most two days."""
        memo = self._days.get(day)
        if memo is None:
            while len(self._days) >= 2:
                del self._days[next(iter(self._days))]
            memo = self._days[day] = {}
        return memo

    def _quote(self, symbol: str, memo: dict[str, _SymbolDay], day: date, micros: int, now: datetime) -> QuoteResult:
        """The symbol's quote ``micros`` after midnight of ``day``."""
        profile = _profile(symbol)
        state = memo.get(symbol)
        if state is None:
            state = memo[symbol] = _SymbolDay(self.seed, symbol, profile, day)
        x = state.log_return(micros, state.path.at(micros))
        high_x, low_x = state.extremes(micros // _GRID_MICROS)
        previous = state.previous_close
        price = _scaled(previous, x, profile.step)
        change = price - previous
        return QuoteResult(
            symbol=symbol,
            success=True,
            price=price,
            previous_close=previous,
            change=change,
            change_percent=(change / previous * 100).quantize(_PERCENT),
            volume=state.volume_at(micros),
            high=_scaled(previous, max(high_x, x), profile.step),
            low=_scaled(previous, min(low_x, x), profile.step),
            market_cap=(price * profile.shares).quantize(Decimal(1)) if profile.shares else None,
            currency=profile.currency,
            timestamp=now,
            source=self.name,
        )

    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Closes of the ``days`` weekdays before today; the last one is today's previous close."""
        self._request()
        if symbol.upper() in self.fail_symbols:
            raise SymbolError(f"{self.name}: {symbol}: simulated failure")
        profile = _profile(symbol)
        day = self._clock().astimezone(UTC).date()
        points: list[HistoryPoint] = []
        for _ in range(max(days, 0)):
            day = _weekday_before(day)
            when = datetime(day.year, day.month, day.day, 21, tzinfo=UTC)
            close = _close(self.seed, symbol, profile, day)
            points.append(HistoryPoint(when, close, _daily_volume(self.seed, symbol, day), self.name))
        points.reverse()
        return points
