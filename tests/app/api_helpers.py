"""Shared helpers of the REST and monitoring tests: users, quotes, a stand-in connection manager."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app.api import monitoring
from infra.feed_status import FeedStatusStore
from models import Asset, Quote, User, db
from tests.conftest import make_app


def login(client: FlaskClient, name: str = "alice", password: str = "s3cret") -> User:
    """Create user `name` and log `client` in as it."""
    user = User(username=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    response = client.post("/auth/login", json={"username": name, "password": password})
    assert response.status_code == 200
    return user


def store_quote(symbol: str = "AAPL", age_seconds: float = 0, price: str = "189.25") -> Quote:
    """An asset with a quote last updated `age_seconds` ago."""
    asset = db.session.query(Asset).filter_by(symbol=symbol).one_or_none() or Asset(symbol=symbol, name=symbol)
    db.session.add(asset)
    db.session.flush()
    quote = Quote(asset_id=asset.id, price=Decimal(price), source="simulated",
                  last_updated=datetime.now(UTC) - timedelta(seconds=age_seconds))
    db.session.add(quote)
    db.session.commit()
    return quote


class FakeConnectionManager:
    """Answers the ConnectionManager calls the API makes, from fixed numbers."""

    def __init__(self, connections: dict[int, list[dict[str, Any]]] | None = None, fail: bool = False) -> None:
        self.connections = connections or {}
        self.fail = fail
        self.asked_for: list[Any] = []

    def _check(self) -> None:
        if self.fail:
            raise ConnectionError("redis down")

    def get_connection_count(self) -> int:
        self._check()
        return sum(len(items) for items in self.connections.values())

    def get_authenticated_user_count(self) -> int:
        self._check()
        return sum(1 for items in self.connections.values() if items)

    def get_total_asset_subscriptions(self) -> int:
        self._check()
        return sum(len(item.get("asset_subscriptions", [])) for items in self.connections.values() for item in items)

    def get_total_portfolio_subscriptions(self) -> int:
        self._check()
        return sum(len(item.get("portfolio_subscriptions", [])) for items in self.connections.values()
                   for item in items)

    def get_user_connections(self, user_or_id: Any) -> list[dict[str, Any]]:
        self._check()
        self.asked_for.append(user_or_id)
        return self.connections.get(user_or_id, [])


def use_fake_manager(monkeypatch: pytest.MonkeyPatch, manager: FakeConnectionManager) -> FakeConnectionManager:
    """Make the API see `manager` instead of the real connection manager."""
    monkeypatch.setattr(monitoring, "connection_manager", lambda: manager)
    return manager


def record_feed_results(store: FeedStatusStore, failures_by_source: dict[str, int] | None = None,
                        failed_symbols: dict[str, str] | None = None) -> None:
    """Record per-source failure counts and failed symbols the way the feed does."""
    if failures_by_source is not None:
        store.record_source_stats({name: {"successes": 0, "failures": count}
                                   for name, count in failures_by_source.items()})
    if failed_symbols is not None:
        store.record_results([], failed_symbols)


@contextmanager
def redis_backed_app(database_url: str, redis_url: str, prefix: str) -> Iterator[Flask]:
    """The production wiring (Redis bus, feed status, cluster keys) in an app context; prefix keys deleted after."""
    application = make_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix})
    try:
        with application.app_context():
            if database_url.startswith("sqlite"):
                db.create_all()
            yield application
            db.session.remove()
            db.engine.dispose()
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()
