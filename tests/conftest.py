"""Fixtures: an in-memory SQLite app for unit tests; real PostgreSQL and Redis for integration."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker
from werkzeug.datastructures import Headers

from app import create_app
from app.config import normalize_database_url
from models import db, valuation_cache
from tests.support.services import postgres_admin_url, redis_url, unavailable

# The simulated market answers at any hour: tests of the feed's other behaviour must not depend on
# whether real exchanges happen to be open while they run (tests of sessions set it to false).
TEST_ENVIRON = {"SECRET_KEY": "test-secret", "LOG_LEVEL": "WARNING", "REALTIME_FETCH_WHEN_CLOSED": "true"}


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfClient(FlaskClient):
    """A test client that sends the session's CSRF token on every change, as the dashboard does.

    tests/app/test_security.py uses a plain FlaskClient to show what happens without it.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        method = str(kwargs.get("method", "GET")).upper()
        headers = Headers(kwargs.pop("headers", None) or {})
        if method in UNSAFE_METHODS and "Authorization" not in headers and "X-CSRFToken" not in headers:
            headers["X-CSRFToken"] = super().open("/auth/csrf").json["csrf_token"]
        return super().open(*args, headers=headers, **kwargs)


def make_app(environ: dict[str, str] | None = None, **overrides: Any) -> Flask:
    """An app from an explicit environment (never the caller's shell)."""
    env = {**TEST_ENVIRON, **(environ or {})}
    application = create_app({"TESTING": True, **overrides}, environ=env)
    application.test_client_class = CsrfClient
    return application


@pytest.fixture(autouse=True)
def _cold_valuation_cache() -> None:
    """Each test starts with an empty per-process valuation cache (ids and versions repeat across databases)."""
    valuation_cache.clear()


@pytest.fixture
def app() -> Iterator[Flask]:
    """Embedded mode on in-memory SQLite with the schema created."""
    application = make_app({"DATABASE_URL": "sqlite://"})
    with application.app_context():
        db.create_all()
        yield application
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@contextmanager
def empty_pg_database(prefix: str = "pricewire_test") -> Iterator[str]:
    """The URL of a new empty PostgreSQL database, dropped on exit (skipped or failed without PostgreSQL)."""
    admin_url = make_url(normalize_database_url(postgres_admin_url()))
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        admin = sa.create_engine(admin_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        unavailable("postgresql", str(exc).splitlines()[0])
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, migrated once for the session."""
    with empty_pg_database() as url:
        application = make_app({"DATABASE_URL": url})
        with application.app_context():
            upgrade()
            db.engine.dispose()
        yield url


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[Flask]:
    """An app on the migrated PostgreSQL database; each test runs in a rolled-back transaction."""
    application = make_app({"DATABASE_URL": pg_url})
    with application.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        db.session.remove()
        # Commits inside the test become savepoints, so the outer rollback undoes everything.
        # A plain Session: Flask-SQLAlchemy's own would pick the engine over this connection.
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        original_session = db.session
        db.session = scoped_session(factory)
        try:
            yield application
        finally:
            db.session.remove()
            transaction.rollback()
            connection.close()
            db.session = original_session
            db.engine.dispose()


def truncate_all(url: str) -> None:
    """Empty every table (for tests whose other processes need committed rows)."""
    engine = sa.create_engine(normalize_database_url(url))
    names = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def pg_committed_url(pg_url: str) -> Iterator[str]:
    """The PostgreSQL database for cross-process tests; emptied afterwards."""
    truncate_all(pg_url)
    yield pg_url
    truncate_all(pg_url)


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """The real Redis, checked to answer."""
    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        unavailable("redis", str(exc))
    return url


@pytest.fixture
def redis_prefix() -> str:
    """A key and channel prefix private to one test."""
    return f"pwtest{uuid.uuid4().hex[:10]}"
