"""Real gunicorn+gevent servers on real PostgreSQL and Redis, seeded users/tokens/quotes, client helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from app.realtime.cluster import ClusterState
from infra.bus import RedisBus
from models import ApiToken, Asset, Portfolio, Position, Quote, User, db
from protocol.bus import bus_message
from protocol.channels import asset_channel, portfolio_channel
from protocol.client import ASSET_UPDATE
from tests.app.ws.client import WsClient
from tests.conftest import make_app
from tests.support.processes import WebServer, service_env, start_web
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@dataclass
class Seed:
    """What the tests find in the database."""

    alice_id: int
    bob_id: int
    alice_token: str
    bob_token: str
    alice_portfolio: int
    bob_portfolio: int


@pytest.fixture
def seed(pg_committed_url: str) -> Seed:
    """Two users with tokens, AAPL and MSFT quotes (seq 5), one portfolio each."""
    app = make_app({"DATABASE_URL": pg_committed_url})
    with app.app_context():
        alice, bob = User(username="alice"), User(username="bob")
        for user in (alice, bob):
            user.set_password(PASSWORD)
        db.session.add_all([alice, bob])
        tokens = []
        for user in (alice, bob):
            token, plain = ApiToken.issue(user, "tests")
            db.session.add(token)
            tokens.append(plain)
        now = datetime.now(UTC)
        assets = {}
        for symbol, price in (("AAPL", "150.25"), ("MSFT", "420.10")):
            asset = Asset(symbol=symbol, name=symbol, currency="USD")
            db.session.add(asset)
            db.session.flush()
            db.session.add(Quote(asset_id=asset.id, price=Decimal(price), previous_close=Decimal(price),
                                 change=Decimal(0), change_percent=Decimal(0), source="simulated",
                                 last_updated=now, seq=5))
            assets[symbol] = asset
        mine = Portfolio(owner=alice, name="Growth", base_currency="USD")
        theirs = Portfolio(owner=bob, name="Bob's", base_currency="USD")
        db.session.add_all([mine, theirs])
        db.session.flush()
        db.session.add(Position(portfolio_id=mine.id, asset_id=assets["AAPL"].id, quantity=Decimal(10),
                                cost_basis=Decimal(1000)))
        db.session.commit()
        result = Seed(alice.id, bob.id, tokens[0], tokens[1], mine.id, theirs.id)
        db.session.remove()
        db.engine.dispose()
    return result


@dataclass
class Services:
    """Where the servers under test keep their state."""

    database_url: str
    redis_url: str
    prefix: str


@pytest.fixture
def services(pg_committed_url: str, redis_server_url: str, redis_prefix: str) -> Services:
    """The database, Redis and key prefix the servers use."""
    return Services(pg_committed_url, redis_server_url, redis_prefix)


@pytest.fixture
def servers(pg_committed_url: str, redis_server_url: str, redis_prefix: str,
            tmp_path: Path) -> Iterator[Callable[..., WebServer]]:
    """start(workers=1, redis_url=None, **env) -> a running gunicorn; all stopped afterwards."""
    started: list[WebServer] = []

    def start(workers: int = 1, redis_url: str | None = None, port: int | None = None, **env: Any) -> WebServer:
        environ = service_env(pg_committed_url, redis_url or redis_server_url, redis_prefix,
                              **{key: str(value) for key, value in env.items()})
        server = start_web(environ, tmp_path, workers=workers, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def web(servers: Callable[..., WebServer]) -> WebServer:
    """One server with default settings."""
    return servers()


@pytest.fixture
def bus(redis_server_url: str, redis_prefix: str) -> Iterator[RedisBus]:
    """A publisher on the servers' bus, as workers publish."""
    created = RedisBus(redis_server_url, redis_prefix)
    yield created
    created.close()


@pytest.fixture
def cluster(redis_server_url: str, redis_prefix: str) -> ClusterState:
    """Reads the per-process stats keys the servers write."""
    return ClusterState(redis_server_url, redis_prefix)


@pytest.fixture
def clients() -> Iterator[Callable[..., WsClient]]:
    """open(url, **options) -> WsClient; all closed afterwards."""
    opened: list[WsClient] = []

    def open_client(url: str, **options: Any) -> WsClient:
        client = WsClient(url, **options)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


def login_session(server: WebServer, username: str = "alice") -> requests.Session:
    """A logged-in HTTP session that sends its CSRF token on changes (as the dashboard does)."""
    session = requests.Session()
    session.headers["X-CSRFToken"] = session.get(server.url + "/auth/csrf", timeout=5).json()["csrf_token"]
    response = session.post(server.url + "/auth/login", json={"username": username, "password": PASSWORD}, timeout=5)
    assert response.status_code == 200, response.text
    return session


def login_cookie(server: WebServer, username: str = "alice") -> str:
    """The session cookie of a logged-in user, as a Cookie header value."""
    session = login_session(server, username)
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def connected(client: WsClient) -> dict[str, Any]:
    """The data of the `connection` message."""
    return client.expect_type("connection")["data"]


def asset_data(symbol: str, seq: int, price: str = "151.00") -> dict[str, Any]:
    """An asset_update payload as the feed builds it."""
    return {"symbol": symbol, "price": Decimal(price), "change": Decimal("0.75"), "seq": seq,
            "source": "simulated", "as_of": "2026-01-01T00:00:00Z", "channel": asset_channel(symbol)}


def publish_asset(bus: RedisBus, symbol: str, seq: int, price: str = "151.00") -> int:
    """Publish one asset_update exactly like a worker."""
    return bus.publish(asset_channel(symbol), bus_message(ASSET_UPDATE, asset_data(symbol, seq, price), time.time()))


def publish_portfolio(bus: RedisBus, portfolio_id: int, seq: int, value: str = "1500.00") -> int:
    """Publish one portfolio_update like the tracker."""
    data = {"portfolio_id": portfolio_id, "total_value": Decimal(value), "seq": seq,
            "channel": portfolio_channel(portfolio_id)}
    return bus.publish(portfolio_channel(portfolio_id), bus_message("portfolio_update", data, time.time()))


def subscribe_and_wait(client: WsClient, symbol: str, **options: Any) -> dict[str, Any]:
    """subscribe_asset and wait for its ack."""
    client.send("subscribe_asset", {"symbol": symbol, **options})
    return client.expect_type("subscribed", channel=asset_channel(symbol.upper()))["data"]


def process_stats(cluster: ClusterState) -> list[dict[str, Any]]:
    """Every live web process's summary."""
    return cluster.summaries()


def wait_quiet(cluster: ClusterState, connections: int = 0, timeout: float = 20) -> list[dict[str, Any]]:
    """Poll the stats keys until the servers hold `connections` sockets and no socket left open."""

    def settled() -> list[dict[str, Any]] | None:
        stats = cluster.summaries()
        total = sum(item["connections"] for item in stats)
        sockets = sum(item["open_sockets"] for item in stats)
        return stats if stats and total == connections and (connections or sockets == 0) else None

    return wait_for(settled, timeout=timeout, interval=0.1, message=f"{connections} connections in stats")


def store_quote(database_url: str, symbol: str, seq: int, price: str) -> None:
    """Move a stored quote on, as the feed does before it publishes."""
    app = make_app({"DATABASE_URL": database_url})
    with app.app_context():
        quote = db.session.scalar(select(Quote).join(Asset).where(Asset.symbol == symbol))
        assert quote is not None
        quote.seq, quote.price = seq, Decimal(price)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
