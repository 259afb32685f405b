"""Assets, their latest quote, and price history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import PERCENT, db, utcnow
from models.exchanges import market_for_symbol


def _symbol_market(context: Any) -> Any:
    """The market an inserted asset's symbol implies (provider metadata may correct it later)."""
    try:
        symbol = context.get_current_parameters().get("symbol") or ""
    except KeyError:  # a multi-VALUES insert SQLAlchemy cannot split: callers set mic and timezone themselves
        symbol = ""
    return market_for_symbol(symbol)


def _default_mic(context: Any) -> str:
    return str(_symbol_market(context).mic)


def _default_timezone(context: Any) -> str:
    return str(_symbol_market(context).timezone)


class Asset(db.Model):  # type: ignore[name-defined,misc]
    """A tradable instrument (or an FX pair such as EURUSD=X) identified by its symbol."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    #: As the provider states it, case kept ('GBp' = pence; see models.currency).
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    #: Who stated the currency: a source name, 'manual' (flask assets set-currency), or None (a default guess
    #: that the first provider stating a currency replaces).
    currency_source: Mapped[str | None] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    market_cap: Mapped[Decimal | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its exchange (a MIC, or FX / CRYPTO / UNKNOWN) and IANA time zone: models/exchanges.py.
    mic: Mapped[str | None] = mapped_column(String(16), default=_default_mic)
    timezone: Mapped[str | None] = mapped_column(String(64), default=_default_timezone)

    quote: Mapped[Quote | None] = relationship(back_populates="asset", uselist=False)


class Quote(db.Model):  # type: ignore[name-defined,misc]
    """The latest known price of one asset; `seq` counts its published updates."""

    __tablename__ = "quotes"

    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    price: Mapped[Decimal]
    previous_close: Mapped[Decimal | None]
    change: Mapped[Decimal | None]
    change_percent: Mapped[Decimal | None] = mapped_column(PERCENT)
    volume: Mapped[int | None] = mapped_column(BigInteger)
    high: Mapped[Decimal | None]
    low: Mapped[Decimal | None]
    market_cap: Mapped[Decimal | None]
    source: Mapped[str] = mapped_column(String(32))
    last_updated: Mapped[datetime] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The market time (last_updated) is older than DATA_STALE_AFTER_SECONDS beyond its market's last session.
    stale: Mapped[bool] = mapped_column(default=False, server_default=false())

    asset: Mapped[Asset] = relationship(back_populates="quote")


class PriceHistory(db.Model):  # type: ignore[name-defined,misc]
    """One observed price per asset and timestamp (re-running a batch adds nothing)."""

    __tablename__ = "price_history"
    __table_args__ = (
        UniqueConstraint("asset_id", "timestamp", name="uq_price_history_asset_timestamp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    timestamp: Mapped[datetime]
    price: Mapped[Decimal]
    volume: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32))

    asset: Mapped[Asset] = relationship()


class WatchlistItem(db.Model):  # type: ignore[name-defined,misc]
    """A symbol a user watches on the dashboard."""

    __tablename__ = "watchlist_items"
    __table_args__ = (UniqueConstraint("user_id", "asset_id", name="uq_watchlist_user_asset"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[Asset] = relationship()


Index("ix_quotes_source_updated", Quote.source, Quote.last_updated)


def get_or_create_asset(symbol: str, name: str = "", currency: str = "USD") -> Asset:
    """The asset with `symbol`, created (and flushed) when missing; safe against a concurrent insert."""
    asset = db.session.scalar(select(Asset).where(Asset.symbol == symbol))
    if asset is not None:
        return asset
    try:
        # A savepoint, so losing the race to another writer does not undo the caller's work.
        with db.session.begin_nested():
            asset = Asset(symbol=symbol, name=name or symbol, currency=currency)
            db.session.add(asset)
    except IntegrityError:
        asset = db.session.scalar(select(Asset).where(Asset.symbol == symbol))
        if asset is None:
            raise
    return asset
