"""The data model on SQLite and real PostgreSQL: Decimal money, constraints, cascades."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models import ApiToken, Asset, Portfolio, Position, PriceHistory, Quote, User, db


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request: pytest.FixtureRequest) -> Flask:
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


def make_portfolio() -> Portfolio:
    user = User(username="u1")
    user.set_password("pw")
    asset = Asset(symbol="AAPL", name="Apple", currency="USD")
    portfolio = Portfolio(owner=user, name="P", base_currency="USD")
    db.session.add_all([user, asset, portfolio])
    db.session.add(Position(portfolio=portfolio, asset=asset, quantity=Decimal("1.5"), cost_basis=Decimal("100.10")))
    db.session.commit()
    return portfolio


def test_money_round_trips_as_decimal(any_app: Flask) -> None:
    portfolio = make_portfolio()
    db.session.add(Quote(asset=portfolio.positions[0].asset, price=Decimal("187.12345678"), source="simulated",
                         last_updated=datetime(2026, 1, 2, 15, 30, tzinfo=UTC), volume=12_000_000_000))
    db.session.commit()
    db.session.expire_all()
    quote = db.session.scalar(select(Quote))
    position = db.session.scalar(select(Position))
    assert quote is not None and position is not None
    assert quote.price == Decimal("187.12345678") and isinstance(quote.price, Decimal)
    assert position.quantity == Decimal("1.5") and position.cost_basis == Decimal("100.10")
    assert quote.last_updated == datetime(2026, 1, 2, 15, 30, tzinfo=UTC)
    assert quote.volume == 12_000_000_000


def test_history_is_unique_per_asset_and_timestamp(any_app: Flask) -> None:
    asset = Asset(symbol="MSFT")
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    db.session.add_all([asset, PriceHistory(asset=asset, timestamp=moment, price=Decimal(1), source="x")])
    db.session.commit()
    db.session.add(PriceHistory(asset_id=asset.id, timestamp=moment, price=Decimal(2), source="x"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_symbol_is_unique(any_app: Flask) -> None:
    db.session.add_all([Asset(symbol="TSLA"), Asset(symbol="TSLA")])
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_password_is_hashed_and_tokens_stored_hashed(any_app: Flask) -> None:
    portfolio = make_portfolio()
    user = portfolio.owner
    assert user.password_hash != "pw" and user.check_password("pw") and not user.check_password("nope")
    token, plain = ApiToken.issue(user, "cli")
    db.session.add(token)
    db.session.commit()
    assert token.token_hash == ApiToken.hash_token(plain) and plain not in token.token_hash


def test_naive_datetimes_are_refused(any_app: Flask) -> None:
    asset = Asset(symbol="X")
    db.session.add_all([asset, PriceHistory(asset=asset, timestamp=datetime(2026, 1, 1), price=Decimal(1), source="x")])
    with pytest.raises(Exception, match="naive datetime"):
        db.session.commit()
    db.session.rollback()
