"""Freshness per market for /health: which markets are open, how old each one's freshest price is.

Only tracked assets count (held, watched, or an FX pair a portfolio needs): a symbol nobody follows any
more is not fetched, so its price ageing says nothing about the feed. A market is stale when it is open
and its freshest price is stale by its session (models.sessions.is_stale); a closed market never is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from infra.settings import get_settings
from models.clock import market_now
from models.exchanges import resolve_market
from models.holders import fx_symbols_for_tracked_portfolios
from models.market import Asset, Quote, WatchlistItem
from models.portfolio import Position
from models.sessions import is_stale, market_clock
from protocol.wire import iso


def tracked_prices() -> list[Any]:
    """(symbol, mic, timezone, last_updated or None) of every tracked active asset, in two queries."""
    held = select(Position.asset_id).where(Position.quantity > 0)
    watched = select(WatchlistItem.asset_id)
    fx = sorted(fx_symbols_for_tracked_portfolios())
    return list(db.session.execute(
        select(Asset.symbol, Asset.mic, Asset.timezone, Quote.last_updated)
        .outerjoin(Quote, Quote.asset_id == Asset.id)
        .where(Asset.is_active.is_(True), or_(Asset.id.in_(held), Asset.id.in_(watched), Asset.symbol.in_(fx)))
    ).all())


def market_freshness(now: datetime | None = None) -> dict[str, dict[str, Any]] | None:
    """MIC -> {state, open, next_open, freshest, age_seconds, stale, assets}; None when the database fails."""
    moment = now or market_now()
    margin = get_settings().data_stale_after_seconds
    try:
        rows = tracked_prices()
    except SQLAlchemyError:
        db.session.rollback()
        return None
    markets: dict[str, dict[str, Any]] = {}
    newest: dict[str, datetime | None] = {}
    for symbol, mic, zone, last_updated in rows:
        market = resolve_market(symbol, mic, zone)
        clock = market_clock(market, moment)
        entry = markets.setdefault(market.mic, {
            "state": clock.state, "open": clock.is_open, "timezone": market.timezone,
            "next_open": None if clock.next_open is None else iso(clock.next_open), "assets": 0,
            "_clock": clock, **({"note": market.note} if market.note else {}),
        })
        entry["assets"] += 1
        best = newest.get(market.mic)
        if last_updated is not None and (best is None or last_updated > best):
            best = last_updated
        newest[market.mic] = best
    for mic, entry in markets.items():
        freshest = newest[mic]
        clock = entry.pop("_clock")
        entry["freshest"] = None if freshest is None else iso(freshest)
        entry["age_seconds"] = None if freshest is None else max(int((moment - freshest).total_seconds()), 0)
        entry["stale"] = is_stale(clock, freshest, moment, margin)
    return dict(sorted(markets.items()))


def open_markets_fresh(markets: dict[str, dict[str, Any]] | None) -> bool:
    """No open market has stale prices (closed markets never count); False when unknown."""
    if markets is None:
        return False
    return not any(entry["open"] and entry["stale"] for entry in markets.values())
