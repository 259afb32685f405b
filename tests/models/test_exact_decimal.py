"""models.base.ExactDecimal: exact money on SQLite (text) and PostgreSQL (NUMERIC), overflow refused on both."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from models import Asset, Portfolio, PortfolioValue, db, utcnow
from tests.conftest import make_app
from tests.support.portfolios import add_user

BIG = Decimal("12345678901.23")


def _store_big() -> int:
    portfolio = Portfolio(owner=add_user(), name="big", base_currency="USD")
    db.session.add(portfolio)
    db.session.flush()
    db.session.add(PortfolioValue(portfolio_id=portfolio.id, timestamp=utcnow(), total_value=BIG,
                                  daily_change=Decimal("-0.01"), stale_value=Decimal(0)))
    db.session.commit()
    return portfolio.id


def test_sqlite_reads_back_exactly(app: Flask) -> None:
    _store_big()
    db.session.expire_all()
    value = db.session.scalar(select(PortfolioValue.total_value))
    assert value == BIG and str(value) == "12345678901.23000000"  # not 12345678901.22999954
    # A literal compared with the column is written the same way.
    assert db.session.scalar(select(func_count()).where(PortfolioValue.total_value == BIG)) == 1


def func_count() -> sa.ColumnElement[int]:
    return sa.func.count(PortfolioValue.id)


def test_history_api_serves_the_exact_total(app: Flask) -> None:
    client = app.test_client()
    portfolio_id = _store_big()
    assert client.post("/auth/login", json={"username": "alice", "password": "s3cret"}).status_code == 200
    body = client.get(f"/api/portfolios/{portfolio_id}/history").get_data(as_text=True)
    assert "12345678901.23" in body and "12345678901.2299" not in body


@pytest.mark.parametrize("value", [Decimal("1e16"), Decimal("-1e16"), Decimal("NaN")])
def test_a_value_that_does_not_fit_is_refused(app: Flask, value: Decimal) -> None:
    db.session.add(Asset(symbol="X", name="X", market_cap=value))
    with pytest.raises(StatementError, match="does not fit"):
        db.session.commit()
    db.session.rollback()


def test_postgresql_round_trip(pg_app: Flask) -> None:
    _store_big()
    db.session.expire_all()
    assert db.session.scalar(select(PortfolioValue.total_value)) == BIG


def test_migration_turns_sqlite_reals_into_exact_text(tmp_path: Path) -> None:
    application = make_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'old.db'}"})
    with application.app_context():
        upgrade(revision="cf52cde45cd4")
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO assets (symbol, name, currency, is_active, market_cap, created_at) "
                "VALUES ('A', 'A', 'USD', 1, 12345678901.23, '2024-01-01 00:00:00')"))
        upgrade()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT market_cap, typeof(market_cap) FROM assets")).one() == (
                "12345678901.23000000", "text")
        assert db.session.scalar(select(Asset.market_cap)) == BIG
        db.engine.dispose()
