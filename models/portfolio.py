"""Portfolios, their positions, and valuation snapshots for charts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import FX_RATE, QUANTITY, db, utcnow
from models.market import Asset
from models.user import User


class Portfolio(db.Model):  # type: ignore[name-defined,misc]
    """A named set of positions owned by one user, valued in its base currency."""

    __tablename__ = "portfolios"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    base_currency: Mapped[str] = mapped_column(String(8), default="USD")
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Derived from the ledger (models.ledger_store.rebuild): cash per major currency as exact text,
    # and what the portfolio has realised, earned and paid, in base at trade-date FX.
    cash: Mapped[dict[str, Any]] = mapped_column(JSON, default=lambda: {})
    realised_gain: Mapped[Decimal] = mapped_column(default=Decimal(0))
    dividends: Mapped[Decimal] = mapped_column(default=Decimal(0))
    interest: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    # models.performance caches the returns of whole days here; None (recomputed) after a ledger change.
    returns_basis: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Bumped (models.ledger_version) whenever its positions, transactions, cash, name or base currency change:
    # workers keep what a valuation needs in memory (models.valuation_cache) until this moves.
    ledger_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    owner: Mapped[User] = relationship(back_populates="portfolios")
    positions: Mapped[list[Position]] = relationship(
        back_populates="portfolio", cascade="all, delete-orphan"
    )


class Position(db.Model):  # type: ignore[name-defined,misc]
    """A holding: quantity of one asset and its total cost basis in the asset's currency."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("portfolio_id", "asset_id", name="uq_positions_portfolio_asset"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    cost_basis: Mapped[Decimal]
    last_published_value: Mapped[Decimal | None]
    # Derived from the ledger: cost of the open lots in base at their trade-date FX (None: unknown,
    # converted at today's rate) and the gain realised on this symbol, in base.
    cost_basis_base: Mapped[Decimal | None]
    realised_gain: Mapped[Decimal] = mapped_column(default=Decimal(0))

    portfolio: Mapped[Portfolio] = relationship(back_populates="positions")
    asset: Mapped[Asset] = relationship()


class PortfolioValue(db.Model):  # type: ignore[name-defined,misc]
    """A valuation snapshot: what the portfolio was worth at a moment."""

    __tablename__ = "portfolio_values"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    total_value: Mapped[Decimal]
    daily_change: Mapped[Decimal]
    stale_value: Mapped[Decimal] = mapped_column(default=Decimal(0))


class Transaction(db.Model):  # type: ignore[name-defined,misc]
    """One ledger entry; positions, cash and cost basis are derived from these (models.ledger)."""

    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column("type", String(16))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(8))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    # Base units per major unit of `currency` on the trade date; NULL only for migrated
    # positions whose rate was unknown (their cost then converts at today's rate).
    fx_rate: Mapped[Decimal | None] = mapped_column(FX_RATE)
    fx_source: Mapped[str] = mapped_column(String(16), default="given")
    executed_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    asset: Mapped[Asset | None] = relationship()


Index("ix_transactions_portfolio_executed", Transaction.portfolio_id, Transaction.executed_at)
Index("ix_portfolio_values_portfolio_timestamp", PortfolioValue.portfolio_id, PortfolioValue.timestamp)
