"""GET /api/realtime/status, /api/realtime/connections and the /api/realtime/debug helper."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.api import realtime
from infra.bus import get_bus
from infra.feed_status import get_feed_status
from tests.app.api_helpers import FakeConnectionManager, login, record_feed_results, store_quote, use_fake_manager
from tests.support.sessions import at, track

CHECKS = {"user_authenticated", "websocket_endpoint_accessible", "redis_connection", "price_feed_running",
          "data_fresh"}


@pytest.mark.parametrize("path", ["/api/realtime/status", "/api/realtime/connections"])
def test_login_required(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json == {"error": "authentication required"}


def test_status(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager({3: [{"asset_subscriptions": ["AAPL"]}]}))
    login(client)
    get_feed_status().write(assets_tracked=5)
    record_feed_results(get_feed_status(), failed_symbols={"XYZ": "no source has XYZ"})
    get_feed_status().heartbeat()
    store_quote(age_seconds=10)
    body = client.get("/api/realtime/status").json
    assert set(body) == {"timestamp", "price_feed", "connections", "data_freshness", "markets"}
    assert body["price_feed"]["running"] is True
    assert body["price_feed"]["assets_tracked"] == 5 and body["price_feed"]["failed_symbols"] == ["XYZ"]
    assert body["connections"] == {"total_connections": 1, "authenticated_users": 1, "asset_subscriptions": 1,
                                   "portfolio_subscriptions": 0}
    assert body["data_freshness"]["is_stale"] is False


def test_connections_lists_only_the_callers(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = use_fake_manager(monkeypatch, FakeConnectionManager())
    user = login(client)
    mine = [{"connection_id": "c1", "asset_subscriptions": ["AAPL"], "connected_at": 1_700_000_000.5},
            {"connection_id": "c2", "connected_at": None}]
    manager.connections = {user.id: mine, user.id + 1: [{"connection_id": "theirs"}]}
    response = client.get("/api/realtime/connections")
    assert response.status_code == 200
    assert response.json == {"user_id": user.id, "count": 2, "max_connections": 5, "connections": [
        {"connection_id": "c1", "asset_subscriptions": ["AAPL"], "connected_at": "2023-11-14T22:13:20.500000Z"},
        {"connection_id": "c2", "connected_at": None},
    ]}
    assert manager.asked_for == [user.id]


def test_real_manager_without_sockets_reports_zeros(client: FlaskClient) -> None:
    login(client)
    status = client.get("/api/realtime/status").json
    assert status["connections"] == {"total_connections": 0, "authenticated_users": 0, "asset_subscriptions": 0,
                                     "portfolio_subscriptions": 0}
    mine = client.get("/api/realtime/connections").json
    assert mine["count"] == 0 and mine["connections"] == []


def test_connections_unavailable_is_503(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager(fail=True))
    login(client)
    response = client.get("/api/realtime/connections")
    assert response.status_code == 503
    assert response.json == {"error": "connection information unavailable"}


def test_debug_all_good(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = use_fake_manager(monkeypatch, FakeConnectionManager())
    user = login(client)
    manager.connections = {user.id: [{"connection_id": "c1"}]}
    get_feed_status().heartbeat()
    store_quote()
    body = client.get("/api/realtime/debug").json
    assert body["debug_info"] == dict.fromkeys(CHECKS, True)
    assert body["recommendations"] == []
    assert body["details"]["open_connections"] == 1 and body["details"]["bus"] == "in-process"
    assert body["details"]["endpoint_registered"] is True  # the real /ws/realtime/ WebSocket rule


def test_debug_logged_out_everything_failing(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_bus(), "ping", lambda: False)
    response = client.get("/api/realtime/debug")
    assert response.status_code == 200
    body = response.json
    assert body["debug_info"] == {
        "user_authenticated": False, "websocket_endpoint_accessible": True, "redis_connection": False,
        "price_feed_running": False, "data_fresh": False,
    }
    advice = body["recommendations"]
    assert len(advice) == 4
    assert "Log in" in advice[0] and "4401" in advice[0]
    assert "Redis" in advice[1]
    assert "heartbeat for more than 60 s" in advice[2]
    assert "No prices are stored yet" in advice[3]


def test_debug_connection_limit_reached(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = use_fake_manager(monkeypatch, FakeConnectionManager())
    user = login(client)
    manager.connections = {user.id: [{"connection_id": f"c{i}"} for i in range(5)]}
    get_feed_status().heartbeat()
    app.config["MARKET_CLOCK"] = at("2026-11-25 16:00")  # New York is open
    track("AAPL", at("2026-11-25 15:00"))
    body = client.get("/api/realtime/debug").json
    assert body["debug_info"]["websocket_endpoint_accessible"] is False
    assert body["debug_info"]["data_fresh"] is False
    assert body["details"]["stale_markets"] == {"XNYS": 3600}
    assert body["recommendations"][0].startswith("You already have 5 open connections, the limit is 5")
    assert "An open market has stale prices: XNYS's newest is 3600 s old (limit 300 s)" in body["recommendations"][1]
    # On Saturday the same old price is no concern.
    app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")
    assert client.get("/api/realtime/debug").json["debug_info"]["data_fresh"] is True


def test_recommendation_for_missing_route() -> None:
    checks = dict.fromkeys(CHECKS, True) | {"websocket_endpoint_accessible": False}
    details = {"endpoint_registered": False, "open_connections": None, "max_connections": 5}
    [advice] = realtime.recommendations(checks, details)
    assert "/ws/realtime/ is not registered" in advice
