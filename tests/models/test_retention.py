"""History retention on SQLite and real PostgreSQL: old rows go in chunks, the newest snapshot stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from models import Asset, Portfolio, PortfolioValue, PriceHistory, User, db
from models.retention import prune_history

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=400)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request: pytest.FixtureRequest) -> Flask:
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


def seed_history() -> tuple[Portfolio, Portfolio]:
    """Two portfolios: one with old and new snapshots, one whose only snapshots are old; prices old and new."""
    user = User(username="keeper")
    user.set_password("pw")
    asset = Asset(symbol="AAPL", name="Apple", currency="USD")
    busy, idle = (Portfolio(owner=user, name=name, base_currency="USD") for name in ("busy", "idle"))
    db.session.add_all([user, asset, busy, idle])
    db.session.flush()
    for days in (500, 450, 401, 399, 1):
        stamp = NOW - timedelta(days=days)
        db.session.add(PriceHistory(asset=asset, timestamp=stamp, price=Decimal("1.5"), source="simulated"))
        db.session.add(PortfolioValue(portfolio_id=busy.id, timestamp=stamp, total_value=Decimal(days),
                                      daily_change=Decimal(0)))
    for days in (700, 600):
        db.session.add(PortfolioValue(portfolio_id=idle.id, timestamp=NOW - timedelta(days=days),
                                      total_value=Decimal(days), daily_change=Decimal(0)))
    db.session.commit()
    return busy, idle


def ages(model: type, portfolio: Portfolio | None = None) -> list[int]:
    query = select(model.timestamp)
    if portfolio is not None:
        query = query.where(model.portfolio_id == portfolio.id)
    return sorted((NOW - stamp).days for stamp in db.session.scalars(query))


def test_dry_run_counts_and_deletes_nothing(any_app: Flask) -> None:
    seed_history()
    assert prune_history(CUTOFF, dry_run=True) == {"price_history": 3, "portfolio_values": 4}
    assert len(ages(PriceHistory)) == 5 and len(ages(PortfolioValue)) == 7


def test_old_rows_go_in_chunks_and_each_portfolio_keeps_its_newest(any_app: Flask) -> None:
    busy, idle = seed_history()
    assert prune_history(CUTOFF, chunk_rows=2) == {"price_history": 3, "portfolio_values": 4}
    assert ages(PriceHistory) == [1, 399]
    assert ages(PortfolioValue, busy) == [1, 399]
    assert ages(PortfolioValue, idle) == [600]  # too old, but the only snapshot it has
    assert prune_history(CUTOFF) == {"price_history": 0, "portfolio_values": 0}  # idempotent
