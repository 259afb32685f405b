"""Helpers for the feed tests: a scripted market-data source and quote builders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from infra.bus import BusMessage, Listener
from models import db
from models.market import Asset, PriceHistory, Quote
from tasks.market_data import (
    DataSourceManager,
    HistoryPoint,
    MarketDataSource,
    QuoteResult,
    SourceError,
)

T0 = datetime(2026, 1, 5, 15, 30, tzinfo=UTC)


def quote(symbol: str, price: str, volume: int = 1000, at: datetime = T0, source: str = "stub") -> QuoteResult:
    """A successful quote."""
    value = Decimal(price)
    return QuoteResult(symbol=symbol, success=True, price=value, previous_close=value - 1, change=Decimal(1),
                       change_percent=Decimal("0.5"), volume=volume, high=value + 1, low=value - 2,
                       market_cap=None, currency="USD", timestamp=at, source=source)


class StubSource(MarketDataSource):
    """Answers from a dict the test edits; `error` makes the whole request fail."""

    batch_size = 500

    def __init__(self, name: str = "stub", quotes: Mapping[str, QuoteResult] | None = None) -> None:
        super().__init__()
        self.name = name  # type: ignore[misc]
        self.quotes: dict[str, QuoteResult] = dict(quotes or {})
        self.error: SourceError | None = None
        self.calls: list[list[str]] = []
        self.on_fetch: Callable[[Sequence[str]], None] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StubSource:
        return cls()

    def fetch_quotes(self, symbols: Sequence[str]) -> dict[str, QuoteResult]:
        self.calls.append(list(symbols))
        if self.on_fetch is not None:
            self.on_fetch(symbols)
        if self.error is not None:
            raise self.error
        return {s: self.quotes.get(s) or QuoteResult.failure(s, self.name, f"{self.name}: unknown symbol")
                for s in symbols}

    def fetch_history(self, symbol: str, days: int) -> list[HistoryPoint]:
        found = self.quotes.get(symbol)
        if found is None or found.price is None:
            return []
        return [HistoryPoint(T0 - timedelta(days=n), found.price, 100, self.name) for n in range(days, 0, -1)]


def manager_of(*sources: StubSource) -> DataSourceManager:
    """A manager asking `sources` in order, without cache."""
    manager = DataSourceManager()
    for priority, source in enumerate(sources, start=1):
        manager.add_source(source, priority)
    return manager


def stored_quotes() -> dict[str, Quote]:
    """Symbol -> stored Quote."""
    rows = db.session.execute(select(Asset.symbol, Quote).join(Quote, Quote.asset_id == Asset.id)).all()
    return {symbol: q for symbol, q in rows}


def history_counts() -> dict[str, int]:
    """Symbol -> number of history rows."""
    rows = db.session.execute(
        select(Asset.symbol, func.count(PriceHistory.id)).join(PriceHistory, PriceHistory.asset_id == Asset.id)
        .group_by(Asset.symbol)
    ).all()
    return {symbol: count for symbol, count in rows}


def drain(listener: Listener) -> list[BusMessage]:
    """Every message already delivered to an in-process listener (publishing there is synchronous)."""
    messages = []
    while (message := listener.get(timeout=0)) is not None:
        messages.append(message)
    return messages
