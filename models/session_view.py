"""A price seen through its market's session: state, trading day, freshness and the day change's basis.

The session layer between stored quotes and messages (asset_update, snapshots, portfolio_update):
- `market_state` and `session_date` (the trading day the price belongs to);
- `stale`: judged by the session (models.sessions.is_stale), never by age alone;
- day change by session: "today" is since the previous close of the asset's current (or most recent)
  session. When a session has begun (pre-market included) and the stored price is still the previous
  session's close, the change since that close is zero, and `change_since` names that session.
The staleness margin (DATA_STALE_AFTER_SECONDS) is the caller's, from its Settings; "now" is models.clock's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from models.clock import market_now
from models.exchanges import COMMON_MICS, Market, calendar, calendar_names, resolve_market
from models.sessions import MarketClock, is_stale, market_clock, session_date_of
from models.valuation import PortfolioInput, PositionInput
from protocol.wire import iso

DEFAULT_STALE_AFTER_SECONDS = 300  # DATA_STALE_AFTER_SECONDS's default, for callers without settings (tests)
STALE_PRICE = "stale_price"


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
                  margin_seconds: int = DEFAULT_STALE_AFTER_SECONDS) -> PriceSession:
    """The session view of `symbol`'s price observed at `price_as_of` (now: the market clock)."""
    moment = market_now(now)
    if price_as_of is not None and price_as_of.tzinfo is None:
        price_as_of = price_as_of.replace(tzinfo=UTC)  # stored times are UTC
    return _price_session((symbol, exchange, timezone), price_as_of, moment, margin_seconds)


@lru_cache(maxsize=16384)
def _price_session(where: tuple[str, str | None, str | None], price_as_of: datetime | None, moment: datetime,
                   margin: int) -> PriceSession:
    """price_session() of (symbol, exchange, timezone), price time, moment and margin, memoised.

    A revaluation round asks the same question once per holding (10,000 portfolios x 20 positions over
    2,000 symbols), and the answer is a pure function of these.
    """
    symbol, exchange, timezone = where
    market = resolve_market(symbol, exchange, timezone)
    clock = market_clock(market, moment)
    stale = is_stale(clock, price_as_of, moment, margin)
    if price_as_of is None or clock.always_open:
        return PriceSession(market, clock, None if price_as_of is None else price_as_of.date(), stale, False, None)
    day = session_date_of(market, price_as_of, moment)
    rolled = clock.is_open and day is not None and day == _local_date(market, clock.previous_close)
    since = day if rolled else _local_date(market, market_clock(market, min(price_as_of, moment)).previous_close)
    return PriceSession(market, clock, day, stale, rolled, since)


def _view_of(position: PositionInput, moment: datetime, margin: int) -> PriceSession:
    """price_session() of a position at `moment` (already the market clock's) with the staleness `margin`."""
    price_as_of = position.price_as_of
    if price_as_of is not None and price_as_of.tzinfo is None:
        price_as_of = price_as_of.replace(tzinfo=UTC)  # stored times are UTC
    return _price_session((position.symbol, position.exchange, position.exchange_timezone), price_as_of, moment,
                          margin)


def roll_sessions(portfolio: PortfolioInput, now: datetime, margin: int) -> PortfolioInput:
    """The portfolio with each position's day change measured by its own market's session.

    A position whose market began a new session since its price (pre-market on Monday with Friday's close)
    has moved 0 since that close: its previous close becomes its price.
    """
    # The clock is the same for every position: read once, not once per position.
    moment = market_now(now)

    def roll(position: PositionInput) -> PositionInput:
        if position.price is None or position.price_as_of is None or not _view_of(position, moment, margin).rolled:
            return position
        return replace(position, previous_close=position.price)

    positions = tuple(map(roll, portfolio.positions))
    if all(after is before for after, before in zip(positions, portfolio.positions, strict=True)):
        return portfolio  # nothing rolled (the usual case): no copy
    return replace(portfolio, positions=positions)


@lru_cache(maxsize=16384)
def _position_fields(view: PriceSession) -> dict[str, Any]:
    """A position's session fields (all but `stale`, which annotate_sessions decides); read-only, shared.

    Memoised like the views themselves: every holder of a symbol in a round gets the same fields.
    """
    return {name: value for name, value in view.fields().items() if name != "stale"}


def annotate_sessions(data: dict[str, Any], portfolio: PortfolioInput, now: datetime, margin: int) -> None:
    """Add each position's session fields to portfolio_update data, flag stale prices, add as_of_oldest.

    A price stale by its session keeps its value but is flagged (stale, stale_reason "stale_price").
    """
    by_id = {position.position_id: position for position in portfolio.positions}
    moment = market_now(now)
    for item in data.get("positions", []):
        position = by_id.get(item.get("position_id"))
        if position is None:
            continue
        view = _view_of(position, moment, margin)
        item.update(_position_fields(view))
        if view.stale and position.price is not None and not item.get("stale"):
            item.update(stale=True, stale_reason=STALE_PRICE)
    stamps = [p.price_as_of if p.price_as_of.tzinfo else p.price_as_of.replace(tzinfo=UTC)
              for p in portfolio.positions if p.price is not None and p.price_as_of is not None]
    oldest = min(stamps) if stamps else None
    data["as_of_oldest"] = None if oldest is None else iso(oldest)


def warm_calendars() -> list[str]:
    """Build the calendars of the common exchanges and of every stored asset's, before a process serves.

    Importing exchange-calendars (pandas) and computing a calendar take about a second and 0.2-0.4 s:
    in a gevent web process the first snapshot would otherwise stall every socket that long. Needs an
    app context; a database that does not answer only leaves the stored ones for later.
    """
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from models.base import db
    from models.market import Asset

    wanted = set(COMMON_MICS)
    try:
        wanted |= {mic for mic in db.session.scalars(select(Asset.mic).distinct()) if mic}
    except SQLAlchemyError:
        db.session.rollback()
    finally:
        db.session.remove()
    built = sorted(mic for mic in wanted if mic in calendar_names())
    for mic in built:
        calendar(mic)
    return built
