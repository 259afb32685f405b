"""Offline simulated market: seeded geometric Brownian motion per symbol."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Self

from .base import HistoryPoint, MarketDataSource, QuoteResult, SymbolError
from .settings import setting_float, setting_int, setting_symbols

__all__ = ["SimulatedSource"]

# One step is one minute of a 252-day, 390-minute trading year.
_STEP_DT = Decimal(1) / Decimal(252 * 390)
_DAY_DT = Decimal(1) / Decimal(252)
_DRIFT = Decimal("0.05")
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


def _hash_int(*parts: object) -> int:
    """Stable 64-bit integer from parts (``hash()`` is salted per process)."""
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(slots=True)
class _Profile:
    """Fixed per-symbol traits derived from the symbol alone."""

    base_price: Decimal
    volatility: Decimal
    step: Decimal  # price tick to quantize to
    currency: str
    shares: int | None  # None for FX: no market cap

    @classmethod
    def for_symbol(cls, symbol: str) -> _Profile:
        """Derive traits deterministically from the symbol."""
        h = _hash_int("profile", symbol)
        if symbol.endswith("=X"):
            pair = symbol[:-2]
            rate = _FX_RATES.get(pair) or str(Decimal(50 + h % 150) / 100)
            quote_ccy = pair[3:6] if len(pair) == 6 else "USD"
            step = Decimal("0.001") if quote_ccy == "JPY" else Decimal("0.0001")
            return cls(Decimal(rate), Decimal(500 + h % 700) / 10_000, step, quote_ccy, None)
        price = Decimal(1_000 + h % 49_000) / 100
        volatility = Decimal(1_500 + (h >> 16) % 4_500) / 10_000
        shares = 50_000_000 + (h >> 32) % 4_950_000_000
        return cls(price, volatility, Decimal("0.01"), "USD", shares)


@dataclass(slots=True)
class _State:
    """Mutable per-symbol market state."""

    rng: random.Random
    price: Decimal
    previous_close: Decimal
    high: Decimal
    low: Decimal
    volume: int
    day: date


def _gbm_factor(rng: random.Random, volatility: Decimal, dt: Decimal) -> Decimal:
    """exp((mu - sigma^2/2) dt + sigma sqrt(dt) Z), computed in Decimal for determinism."""
    z = Decimal(repr(rng.gauss(0.0, 1.0)))
    return ((_DRIFT - volatility * volatility / 2) * dt + volatility * dt.sqrt() * z).exp()


class SimulatedSource(MarketDataSource):
    """Deterministic offline market; symbols in ``fail_symbols`` always fail."""

    name = "simulated"
    requires_key = False
    batch_size = 500

    def __init__(
        self,
        api_key: str | None = None,
        rate_limit: int = 0,
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
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from SIMULATED_* settings."""
        return cls(
            rate_limit=setting_int(config, "SIMULATED_RATE_LIMIT"),
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
        """Advance each symbol one step and quote it."""
        self._request()
        now = self._clock()
        results = {}
        with self._lock:
            for symbol in symbols:
                if symbol.upper() in self.fail_symbols:
                    results[symbol] = QuoteResult.failure(symbol, self.name, "simulated: simulated failure")
                else:
                    results[symbol] = self._step(symbol, now)
        return results

    def _step(self, symbol: str, now: datetime) -> QuoteResult:
        """Move the symbol's price one GBM step; roll the day when the date changes."""
        profile = _Profile.for_symbol(symbol)
        state = self._states.get(symbol)
        if state is None:
            rng = random.Random(_hash_int("quote", self.seed, symbol))
            opening = profile.base_price.quantize(profile.step)
            volume = rng.randint(10_000, 1_000_000)
            state = _State(rng, opening, opening, opening, opening, volume, now.date())
            self._states[symbol] = state
        if now.date() != state.day:
            # A new day: yesterday's last price becomes the fixed previous close.
            state.previous_close = state.price.quantize(profile.step)
            state.high = state.low = state.price
            state.volume, state.day = 0, now.date()
        state.price *= _gbm_factor(state.rng, profile.volatility, _STEP_DT)
        state.high, state.low = max(state.high, state.price), min(state.low, state.price)
        state.volume += state.rng.randint(100, 5_000)
        price = state.price.quantize(profile.step)
        change = price - state.previous_close
        return QuoteResult(
            symbol=symbol,
            success=True,
            price=price,
            previous_close=state.previous_close,
            change=change,
            change_percent=(change / state.previous_close * 100).quantize(Decimal("0.0001")),
            volume=state.volume,
            high=state.high.quantize(profile.step),
            low=state.low.quantize(profile.step),
            market_cap=(price * profile.shares).quantize(Decimal(1)) if profile.shares else None,
            currency=profile.currency,
            timestamp=now,
            source=self.name,
        )

    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        """Daily closes for the ``days`` weekdays before today, ending at the previous close."""
        self._request()
        if symbol.upper() in self.fail_symbols:
            raise SymbolError(f"{self.name}: {symbol}: simulated failure")
        profile = _Profile.for_symbol(symbol)
        with self._lock:
            state = self._states.get(symbol)
            last_close = state.previous_close if state else profile.base_price.quantize(profile.step)
        rng = random.Random(_hash_int("history", self.seed, symbol))
        day = self._clock().date()
        points: list[HistoryPoint] = []
        close = last_close
        while len(points) < max(days, 0):
            day -= timedelta(days=1)
            if day.weekday() >= 5:
                continue
            when = datetime(day.year, day.month, day.day, 21, tzinfo=UTC)
            volume = rng.randint(1_000_000, 50_000_000)
            points.append(HistoryPoint(when, close.quantize(profile.step), volume, self.name))
            # Walk backwards: the previous day's close is this one divided by a GBM factor.
            close /= _gbm_factor(rng, profile.volatility, _DAY_DT)
        points.reverse()
        return points
