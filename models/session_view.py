"""A price seen through its market's session: state, trading day, freshness and the day change's basis.

The session layer between stored quotes and messages (asset_update, snapshots, portfolio_update):
- `market_state` and `session_date` (the trading day the price belongs to);
- `stale`: judged by the session (models.sessions.is_stale), never by age alone;
- day change by session: "today" is since the previous close of the asset's current (or most recent)
  session. When a session has begun (pre-market included) and the stored price is still the previous
  session's close, the change since that close is zero, and `change_since` names that session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from models.clock import market_now
from models.exchanges import Market, resolve_market
from models.messages import iso
from models.sessions import MarketClock, is_stale, market_clock, session_date_of

DEFAULT_STALE_AFTER_SECONDS = 300
STALE_PRICE = "stale_price"


def stale_after_seconds() -> int:
    """DATA_STALE_AFTER_SECONDS of the current app (300 outside one)."""
    raw = current_app.config.get("DATA_STALE_AFTER_SECONDS") if has_app_context() else None
    return DEFAULT_STALE_AFTER_SECONDS if raw is None else int(raw)


@dataclass(frozen=True)
class PriceSession:
    """One price in its market's session at `now`."""

    market: Market
    clock: MarketClock
    session_date: date | None
    stale: bool
    rolled: bool  # a new session began since this price's: its change since that close is 0
    change_since: date | None  # the trading day whose close the day change is measured from

    def fields(self) -> dict[str, Any]:
        """The message fields (asset_update, snapshot, each portfolio position)."""
        return {
            "market_state": self.clock.state,
            "session_date": None if self.session_date is None else self.session_date.isoformat(),
            "exchange": self.market.mic,
            "exchange_timezone": self.market.timezone,
            "next_open": None if self.clock.next_open is None else iso(self.clock.next_open),
            "change_since": None if self.change_since is None else self.change_since.isoformat(),
            "stale": self.stale,
            **({"market_note": self.market.note} if self.market.note else {}),
        }


def rolled_quote_fields(price: Decimal | None, view: PriceSession) -> dict[str, Any]:
    """previous_close, change and change_percent of a price whose session has ended and a new one begun."""
    if not view.rolled or price is None:
        return {}
    return {"previous_close": price, "change": Decimal(0), "change_percent": Decimal(0)}


def _local_date(market: Market, moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(ZoneInfo(market.timezone)).date()


def price_session(symbol: str, price_as_of: datetime | None, *, exchange: str | None = None,
                  timezone: str | None = None, now: datetime | None = None,
                  margin_seconds: int | None = None) -> PriceSession:
    """The session view of `symbol`'s price observed at `price_as_of` (now: the market clock)."""
    moment = now or market_now()
    margin = stale_after_seconds() if margin_seconds is None else margin_seconds
    market = resolve_market(symbol, exchange, timezone)
    clock = market_clock(market, moment)
    stale = is_stale(clock, price_as_of, moment, margin)
    if price_as_of is None or clock.always_open:
        return PriceSession(market, clock, None if price_as_of is None else price_as_of.date(), stale, False, None)
    day = session_date_of(market, price_as_of, moment)
    rolled = clock.is_open and day is not None and day == _local_date(market, clock.previous_close)
    since = day if rolled else _local_date(market, market_clock(market, min(price_as_of, moment)).previous_close)
    return PriceSession(market, clock, day, stale, rolled, since)
