"""Helpers of the market-session tests: UTC instants and watched assets with a quote at a given time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from models import Asset, Quote, User, WatchlistItem, db


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def track(symbol: str, price_at: datetime | None = None, price: str = "100") -> Asset:
    """A watched asset (so the feed and /health track it), with a quote observed at `price_at` when given."""
    user = db.session.query(User).filter_by(username="watcher").one_or_none() or User(username="watcher")
    user.set_password("pw")
    asset = Asset(symbol=symbol, name=symbol)
    db.session.add_all([user, asset])
    db.session.flush()
    db.session.add(WatchlistItem(user_id=user.id, asset_id=asset.id))
    if price_at is not None:
        db.session.add(Quote(asset_id=asset.id, price=Decimal(price), previous_close=Decimal("99"),
                             change=Decimal(price) - Decimal("99"), change_percent=Decimal("1.01"),
                             source="stub", last_updated=price_at))
    db.session.commit()
    return asset
