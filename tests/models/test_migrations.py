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
