"""`flask db upgrade` builds the same schema as the models on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import inspect

from models import db
from tests.conftest import make_app


def assert_schema_matches_models() -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(context, db.metadata) == []
    indexes = {index["name"] for index in inspect(db.engine).get_indexes("positions")}
    assert "ix_positions_asset_id" in indexes
    assert "ix_portfolios_user_id" in {index["name"] for index in inspect(db.engine).get_indexes("portfolios")}


def test_upgrade_on_sqlite(tmp_path: Path) -> None:
    application = make_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    with application.app_context():
        upgrade()
        assert_schema_matches_models()


def test_upgrade_on_postgresql(pg_url: str) -> None:
    application = make_app({"DATABASE_URL": pg_url})
    with application.app_context():
        assert_schema_matches_models()
        db.engine.dispose()


def test_existing_assets_get_their_exchange_from_their_symbol(tmp_path: Path) -> None:
    from sqlalchemy import text

    application = make_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"})
    with application.app_context():
        upgrade(revision="cf52cde45cd4")
        with db.engine.begin() as connection:
            for symbol in ("AAPL", "VOD.L", "EURUSD=X", "BTC-USD"):
                connection.execute(text(
                    "INSERT INTO assets (symbol, name, currency, is_active, created_at) "
                    "VALUES (:symbol, :symbol, 'USD', 1, '2026-01-01 00:00:00')"), {"symbol": symbol})
        upgrade()
        with db.engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT symbol, mic || ' ' || timezone FROM assets")).all())
        db.engine.dispose()
    assert rows == {"AAPL": "XNYS America/New_York", "VOD.L": "XLON Europe/London",
                    "EURUSD=X": "FX America/New_York", "BTC-USD": "CRYPTO UTC"}
