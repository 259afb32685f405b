"""/health (readiness in the reference's shape) and /metrics (Prometheus text)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app.api import monitoring
from app.realtime.cluster import ClusterState
from infra.bus import get_bus
from infra.feed_status import RedisFeedStatusStore, get_feed_status
from models import Quote, db
from tests.app.api_helpers import (
    FakeConnectionManager,
    record_feed_results,
    redis_backed_app,
    store_quote,
    use_fake_manager,
)
from tests.conftest import make_app
from tests.support.sessions import at, track


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_fresh_app_is_degraded_with_reference_shape(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "degraded"
    # Nothing tracked: no market can be stale; the missing heartbeat alone degrades it.
    assert body["checks"] == {"database": True, "bus": True, "price_feed": False, "data_fresh": True}
    # The reference's three services, the markets (issue 13) and which Redis carries the bus (issue 15).
    assert set(body["services"]) == {"price_feed", "websocket_connections", "data_freshness", "markets", "bus"}
    assert body["services"]["markets"] == {}
    assert body["services"]["bus"] == {"mode": "memory"}
    assert body["services"]["price_feed"]["running"] is False
    assert body["services"]["price_feed"]["update_interval"] == 30
    assert body["services"]["data_freshness"] is None
    assert set(body["services"]["websocket_connections"]) >= set(monitoring.CONNECTION_FIELDS)
    assert body["timestamp"].endswith("Z")
    assert response.headers["Cache-Control"] == "no-store"


def test_healthy_when_feed_runs_and_data_is_fresh(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager({7: [{"asset_subscriptions": ["AAPL", "MSFT"]}]}))
    get_feed_status().heartbeat()
    store_quote(age_seconds=5)
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "healthy"
    assert all(body["checks"].values())
    assert body["services"]["websocket_connections"] == {
        "total_connections": 1, "authenticated_users": 1, "asset_subscriptions": 2, "portfolio_subscriptions": 0,
    }
    freshness = body["services"]["data_freshness"]
    assert freshness["is_stale"] is False and freshness["stale_after_seconds"] == 300
    assert 0 <= freshness["seconds_since_update"] < 300


def test_an_open_market_with_an_old_price_degrades_a_closed_one_does_not(app: Flask, client: FlaskClient) -> None:
    get_feed_status().heartbeat()
    app.config["MARKET_CLOCK"] = at("2026-11-25 16:00")  # Wednesday, New York open; Thursday is Thanksgiving
    track("AAPL", at("2026-11-25 15:00"))
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["checks"]["data_fresh"] is False
    assert response.json["services"]["markets"]["XNYS"] == {
        "state": "regular", "open": True, "timezone": "America/New_York", "next_open": "2026-11-27T14:30:00Z",
        "assets": 1, "freshest": "2026-11-25T15:00:00Z", "age_seconds": 3600, "stale": True,
    }
    # Saturday: Friday's close is days old, and the market is closed: healthy.
    app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")
    db.session.execute(sa.update(Quote).values(last_updated=at("2026-11-27 18:00")))
    db.session.commit()
    saturday = client.get("/health")
    assert saturday.status_code == 200, saturday.json
    assert saturday.json["services"]["markets"]["XNYS"]["open"] is False
    assert saturday.json["services"]["markets"]["XNYS"]["age_seconds"] == 75600


def test_staleness_boundary_uses_the_configured_limit(app: Flask) -> None:
    quote = store_quote()
    newest = quote.last_updated
    assert monitoring.data_freshness(now=newest + timedelta(seconds=300))["is_stale"] is False
    assert monitoring.data_freshness(now=newest + timedelta(seconds=301))["is_stale"] is True


def test_staleness_limit_comes_from_the_settings() -> None:
    short = make_app({"DATABASE_URL": "sqlite://", "DATA_STALE_AFTER_SECONDS": "10"})
    with short.app_context():
        db.create_all()
        newest = store_quote().last_updated
        assert monitoring.data_freshness(now=newest + timedelta(seconds=10))["is_stale"] is False
        assert monitoring.data_freshness(now=newest + timedelta(seconds=11))["is_stale"] is True
        db.session.remove()


def test_newest_quote_decides_freshness(app: Flask) -> None:
    store_quote("AAPL", age_seconds=7200)
    fresh = store_quote("MSFT", age_seconds=0)
    freshness = monitoring.data_freshness(now=fresh.last_updated + timedelta(seconds=1))
    assert freshness["seconds_since_update"] == 1


def test_unreachable_bus_or_feed_store_degrades_instead_of_failing(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch,
) -> None:
    get_feed_status().heartbeat()
    store_quote()
    monkeypatch.setattr(get_bus(), "ping", lambda: False)
    response = client.get("/health")
    assert response.status_code == 503 and response.json["checks"]["bus"] is False

    def broken(update_interval: int) -> dict[str, object]:
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(get_feed_status(), "service_status", broken)
    body = client.get("/health").json
    assert body["checks"]["price_feed"] is False
    assert "connection refused" in body["services"]["price_feed"]["error"]


def test_connection_stats_failure_is_reported_not_fatal(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager(fail=True))
    get_feed_status().heartbeat()
    store_quote()
    response = client.get("/health")
    assert response.status_code == 200
    stats = response.json["services"]["websocket_connections"]
    assert stats["total_connections"] is None and "redis down" in stats["error"]


def test_liveness_is_unchanged(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": True, "bus": True}}


def test_metrics_exposition(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager({1: [{}, {}], 2: [{"portfolio_subscriptions": [4]}]}))
    get_feed_status().write(last_cycle_duration=1.25, assets_tracked=12)
    record_feed_results(get_feed_status(), failures_by_source={"finnhub": 3, "simulated": 0})
    get_feed_status().heartbeat()
    store_quote(age_seconds=42)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = samples(response.get_data(as_text=True))
    assert values[("pricewire_feed_cycle_duration_seconds", ())] == 1.25
    assert values[("pricewire_provider_errors", (("source", "finnhub"),))] == 3
    assert values[("pricewire_provider_errors", (("source", "simulated"),))] == 0
    assert values[("pricewire_cluster_ws_connections", ())] == 3
    assert values[("pricewire_cluster_authenticated_users", ())] == 2
    assert values[("pricewire_cluster_portfolio_subscriptions", ())] == 1
    assert values[("pricewire_feed_running", ())] == 1
    assert values[("pricewire_feed_assets_tracked", ())] == 12
    assert values[("pricewire_data_age_seconds", ())] >= 42
    # The per-process objects of app.metrics are all exposed.
    for name in ("pricewire_ws_connections", "pricewire_relay_lag_seconds", "pricewire_publish_to_send_seconds_count"):
        assert (name, ()) in values


def test_metrics_in_openmetrics_when_asked(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager({1: [{}]}))
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    text = response.get_data(as_text=True)
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    assert "pricewire_cluster_ws_connections 1.0" in text and "pricewire_ws_connections " in text


def test_metrics_without_connection_manager_still_answers(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager(fail=True))
    response = client.get("/metrics")
    assert response.status_code == 200
    values = samples(response.get_data(as_text=True))
    assert ("pricewire_cluster_ws_connections", ()) not in values
    assert values[("pricewire_feed_running", ())] == 0


@pytest.fixture
def redis_app(pg_committed_url: str, redis_server_url: str, redis_prefix: str) -> Iterator[Flask]:
    """The production wiring: PostgreSQL, Redis bus and Redis feed status under a private prefix."""
    with redis_backed_app(pg_committed_url, redis_server_url, redis_prefix) as application:
        yield application


@pytest.mark.integration
def test_health_and_metrics_against_redis_and_postgres(redis_app: Flask, redis_server_url: str,
                                                       redis_prefix: str) -> None:
    client = redis_app.test_client()
    degraded = client.get("/health")
    assert degraded.status_code == 503
    assert degraded.json["checks"] == {"database": True, "bus": True, "price_feed": False, "data_fresh": True}

    # The feed's heartbeat, written by another process through its own Redis client.
    worker_store = RedisFeedStatusStore(redis.Redis.from_url(redis_server_url), redis_prefix)
    worker_store.write(last_cycle_duration=0.5)
    record_feed_results(worker_store, failures_by_source={"yahoo_finance": 2})
    worker_store.heartbeat()
    store_quote(age_seconds=1)
    healthy = client.get("/health")
    assert healthy.status_code == 200, healthy.json
    assert healthy.json["status"] == "healthy"
    assert healthy.json["services"]["price_feed"]["heartbeat_at"] is not None
    last_update = datetime.fromisoformat(healthy.json["services"]["data_freshness"]["last_update"])
    assert last_update.tzinfo is not None and last_update <= datetime.now(UTC)

    assert healthy.json["services"]["websocket_connections"] == {
        "total_connections": 0, "authenticated_users": 0, "asset_subscriptions": 0, "portfolio_subscriptions": 0,
    }

    # Another web process publishes its stats heartbeat: one socket of user 7 on two channels.
    cluster = ClusterState(redis_server_url, redis_prefix)
    socket = {"connection_id": "c1", "user_id": 7, "subscriptions": ["asset:AAPL", "portfolio:3"]}
    cluster.write_process("otherhost:123", {"instance": "otherhost:123", "connections": 1, "authenticated_users": 1,
                                            "asset_subscriptions": 1, "portfolio_subscriptions": 1}, {7: [socket]})
    assert client.get("/health").json["services"]["websocket_connections"] == {
        "total_connections": 1, "authenticated_users": 1, "asset_subscriptions": 1, "portfolio_subscriptions": 1,
    }
    cluster.client.close()

    values = samples(client.get("/metrics").get_data(as_text=True))
    assert values[("pricewire_cluster_ws_connections", ())] == 1
    assert values[("pricewire_feed_running", ())] == 1
    assert values[("pricewire_feed_cycle_duration_seconds", ())] == 0.5
    assert values[("pricewire_provider_errors", (("source", "yahoo_finance"),))] == 2

    # The heartbeat goes stale (written two intervals ago): degraded again.
    interval = redis_app.config["REALTIME_UPDATE_INTERVAL"]
    worker_store.write(heartbeat_at=datetime.now(UTC).timestamp() - 2 * interval - 1)
    assert client.get("/health").status_code == 503
    worker_store.client.close()
