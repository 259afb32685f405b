"""`flask history prune`: counts on a dry run, deletes past the retention, and says when retention is off."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from cli import register_cli
from models import Asset, PriceHistory, db
from models.base import utcnow
from tests.conftest import make_app


def seed_prices(days_ago: list[int]) -> None:
    asset = Asset(symbol="MSFT", name="Microsoft", currency="USD")
    db.session.add(asset)
    for days in days_ago:
        db.session.add(PriceHistory(asset=asset, timestamp=utcnow() - timedelta(days=days), price=Decimal("2"),
                                    source="simulated"))
    db.session.commit()


def prune(app: Flask, *args: str) -> str:
    register_cli(app)
    result = app.test_cli_runner().invoke(args=["history", "prune", *args])
    assert result.exit_code == 0, result.output
    return result.output


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(PriceHistory)) or 0


def test_dry_run_then_prune_with_the_configured_retention(app: Flask) -> None:
    seed_prices([500, 450, 10])
    assert "price_history: would delete 2" in prune(app, "--dry-run")
    assert count() == 3
    assert "price_history: deleted 2" in prune(app)  # HISTORY_RETENTION_DAYS defaults to 400
    assert count() == 1
    assert "price_history: deleted 1" in prune(app, "--days", "5")


def test_retention_off_prunes_nothing() -> None:
    app = make_app({"DATABASE_URL": "sqlite://", "HISTORY_RETENTION_DAYS": "0"})
    with app.app_context():
        db.create_all()
        seed_prices([900])
        assert "retention is off" in prune(app)
        assert count() == 1


def test_bad_days_is_a_usage_error(app: Flask) -> None:
    register_cli(app)
    result = app.test_cli_runner().invoke(args=["history", "prune", "--days", "0"])
    assert result.exit_code == 2 and "--days" in result.output
