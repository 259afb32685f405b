"""Stored portfolios with hand-computable numbers, shared by the valuation, tracker and API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select, update

from models import Asset, Portfolio, Position, Quote, User, db

D = Decimal
NOW = datetime(2024, 1, 15, 15, 30, tzinfo=UTC)
AS_OF = NOW - timedelta(seconds=90)


def add_user(name: str = "alice", password: str = "s3cret") -> User:
    """A committed user."""
    user = User(username=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def add_asset(symbol: str, currency: str = "USD", price: str | None = None, prev: str | None = None,
              as_of: datetime = AS_OF) -> Asset:
    """An asset, with a stored quote when `price` is given."""
    asset = Asset(symbol=symbol, name=symbol, currency=currency)
    db.session.add(asset)
    if price is not None:
        db.session.add(Quote(asset=asset, price=D(price), previous_close=None if prev is None else D(prev),
                             source="simulated", last_updated=as_of))
    db.session.flush()
    return asset


def set_price(symbol: str, price: str, as_of: datetime = NOW) -> None:
    """Change a stored quote, as the feed's batch does, and commit."""
    asset_id = db.session.scalar(select(Asset.id).where(Asset.symbol == symbol))
    result = db.session.execute(
        update(Quote).where(Quote.asset_id == asset_id).values(price=D(price), last_updated=as_of)
    )
    assert result.rowcount == 1, f"{symbol} has no quote"  # type: ignore[attr-defined]
    db.session.commit()


def seed_mixed(user: User, name: str = "Growth") -> Portfolio:
    """The mixed-currency portfolio of tests/models/test_valuation.py, stored with its FX quotes.

    AAPL 10 x 150.25 = 1502.50 USD (prev 1480.00, cost 1400.00)
    SAP 20 x 120.50 EUR = 2410.00 EUR x 1.10 = 2651.00 USD (prev 2662.00, cost 2750.00)
    VOD.L 1000 x 72.34 GBp = 723.40 GBP x 1.25 = 904.25 USD (prev 898.75, cost 1000.00)
    total 5057.75, daily +17.00 (0.34%), cost 5150.00, return -92.25 (-1.79%)
    """
    assets = {
        "AAPL": add_asset("AAPL", "USD", "150.25", "148.00"),
        "SAP": add_asset("SAP", "EUR", "120.50", "121.00"),
        "VOD.L": add_asset("VOD.L", "GBp", "72.34", "71.90"),
    }
    add_asset("EURUSD=X", "USD", "1.10", "1.10")
    add_asset("GBPUSD=X", "USD", "1.25", "1.25")
    portfolio = Portfolio(owner=user, name=name, base_currency="USD")
    db.session.add(portfolio)
    for symbol, quantity, cost in (("AAPL", "10", "1400.00"), ("SAP", "20", "2500.00"), ("VOD.L", "1000", "80000")):
        db.session.add(Position(portfolio=portfolio, asset=assets[symbol], quantity=D(quantity), cost_basis=D(cost)))
    db.session.commit()
    return portfolio


def seed_many(user: User, portfolios: int, per_portfolio: int) -> list[int]:
    """`portfolios` x `per_portfolio` positions over USD/EUR/GBp assets (bulk inserts); portfolio ids."""
    symbols = [f"S{i:04d}" for i in range(per_portfolio)]
    currencies = ("USD", "EUR", "GBp")
    db.session.execute(insert(Asset), [
        {"symbol": s, "name": s, "currency": currencies[i % 3]} for i, s in enumerate(symbols)
    ] + [{"symbol": "EURUSD=X", "name": "EURUSD=X", "currency": "USD"},
         {"symbol": "GBPUSD=X", "name": "GBPUSD=X", "currency": "USD"}])
    ids = dict(db.session.execute(select(Asset.symbol, Asset.id)).tuples().all())
    db.session.execute(insert(Quote), [
        {"asset_id": ids[s], "price": D("10.5") + i, "previous_close": D(10) + i, "source": "simulated",
         "last_updated": AS_OF, "seq": 0}
        for i, s in enumerate([*symbols, "EURUSD=X", "GBPUSD=X"])
    ])
    db.session.execute(insert(Portfolio), [
        {"user_id": user.id, "name": f"P{n}", "base_currency": "USD", "seq": 0, "created_at": NOW}
        for n in range(portfolios)
    ])
    portfolio_ids = list(db.session.scalars(select(Portfolio.id).where(Portfolio.user_id == user.id)))
    db.session.execute(insert(Position), [
        {"portfolio_id": pid, "asset_id": ids[s], "quantity": D(2), "cost_basis": D(20)}
        for pid in portfolio_ids for s in symbols
    ])
    db.session.commit()
    return portfolio_ids
