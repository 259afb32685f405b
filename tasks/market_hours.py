"""Which tracked symbols a scheduled cycle fetches: only open markets, plus one closing print per close.

A symbol whose market is in session (pre, regular or post) is fetched every cycle. Once its market closes
it is fetched until one fetch has happened at least CLOSING_PRINT_DELAY after the close (the closing
print, settled), then not again until the next pre-open. Forced updates (`flask prices update`,
`POST /api/prices/refresh`) bypass this; REALTIME_FETCH_WHEN_CLOSED=true turns it off.
When each symbol was last fetched lives beside the feed status (Redis hash `feed:fetched`, or a dict in
embedded mode), on the market clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from infra.feed_status import FeedStatusStore
from infra.settings import get_settings
from models.base import db
from models.clock import market_now
from models.exchanges import Market, resolve_market
from models.market import Asset
from models.sessions import REGULAR, MarketClock, market_clock

CLOSING_PRINT_DELAY = timedelta(minutes=5)
_LOCAL_KEY = "_fetched_local"
_local_lock = threading.Lock()


def _fetched_key(store: FeedStatusStore) -> str:
    return f"{store.prefix}:feed:fetched"


def _local(store: FeedStatusStore) -> dict[str, float]:
    table: dict[str, float] | None = getattr(store, _LOCAL_KEY, None)
    if table is None:
        table = {}
        setattr(store, _LOCAL_KEY, table)
    return table


def record_fetches(store: FeedStatusStore, symbols: Iterable[str], when: datetime | None = None) -> None:
    """Remember that these symbols were fetched at `when` (the market clock)."""
    moment = (when or market_now()).timestamp()
    mapping = {symbol: moment for symbol in symbols}
    if not mapping:
        return
    if store.client is None:
        with _local_lock:
            _local(store).update(mapping)
    else:
        store.client.hset(_fetched_key(store), mapping=mapping)  # type: ignore[arg-type]


def last_fetches(store: FeedStatusStore, symbols: Sequence[str]) -> dict[str, datetime]:
    """Symbol -> when it was last fetched, for those ever fetched."""
    if not symbols:
        return {}
    if store.client is None:
        with _local_lock:
            raw: list[Any] = [_local(store).get(symbol) for symbol in symbols]
    else:
        raw = list(store.client.hmget(_fetched_key(store), list(symbols)))
    return {symbol: datetime.fromtimestamp(float(value), UTC)
            for symbol, value in zip(symbols, raw, strict=True) if value is not None}


def fetch_due(clock: MarketClock, last_fetch: datetime | None) -> bool:
    """Whether a scheduled cycle fetches a symbol in this market state, last fetched at `last_fetch`."""
    if clock.is_open or clock.last_close is None:
        return True
    return last_fetch is None or last_fetch < clock.last_close + CLOSING_PRINT_DELAY


def stored_markets(symbols: Sequence[str]) -> dict[str, Market]:
    """Symbol -> its market, from the stored exchange and time zone (the symbol's rule for unknown ones)."""
    rows = db.session.execute(
        select(Asset.symbol, Asset.mic, Asset.timezone).where(Asset.symbol.in_(list(symbols)))
    ).all() if symbols else []
    stored = {row.symbol: (row.mic, row.timezone) for row in rows}
    return {symbol: resolve_market(symbol, *stored.get(symbol, (None, None))) for symbol in symbols}


@dataclass
class FetchPlan:
    """The symbols a cycle fetches, and those it leaves alone because their market is closed."""

    due: list[str]
    skipped: list[str] = field(default_factory=list)
    clocks: dict[str, MarketClock] = field(default_factory=dict)


def plan_fetches(store: FeedStatusStore, symbols: Sequence[str], now: datetime | None = None,
                 fetch_when_closed: bool | None = None) -> FetchPlan:
    """Split tracked symbols into those to fetch now and those whose closed market was already fetched."""
    if fetch_when_closed is None:
        fetch_when_closed = get_settings().realtime_fetch_when_closed
    if fetch_when_closed or not symbols:
        return FetchPlan(list(symbols))
    moment = now or market_now()
    markets = stored_markets(symbols)
    clocks = {symbol: market_clock(markets[symbol], moment) for symbol in symbols}
    fetched = last_fetches(store, [s for s in symbols if not clocks[s].is_open])
    plan = FetchPlan([], [], clocks)
    for symbol in symbols:
        (plan.due if fetch_due(clocks[symbol], fetched.get(symbol)) else plan.skipped).append(symbol)
    return plan


def exchange_summary(clocks: Mapping[str, MarketClock]) -> dict[str, dict[str, Any]]:
    """MIC -> {state, open, next_open, symbols} over these symbols' markets (for `flask feed status`)."""
    summary: dict[str, dict[str, Any]] = {}
    for symbol, clock in sorted(clocks.items()):
        entry = summary.setdefault(clock.market.mic, {
            "state": clock.state, "open": clock.is_open, "timezone": clock.market.timezone,
            "next_open": clock.next_open, "note": clock.market.note, "symbols": [],
        })
        entry["symbols"].append(symbol)
    return summary


def calendar_last_session_end(result: Any, now: datetime) -> datetime:
    """When the market of a fetched quote last traded: now in its regular session, else its last close.

    The manager's `last_session_end` hook (tasks/market_data/freshness.py): an old print is one older than
    this by more than DATA_STALE_AFTER_SECONDS. The quote's own exchange metadata wins over its symbol.
    """
    market = resolve_market(result.symbol, getattr(result, "exchange", None),
                            getattr(result, "exchange_timezone", None))
    clock = market_clock(market, now)
    if clock.always_open or clock.state == REGULAR or clock.last_close is None:
        return now
    return clock.last_close
