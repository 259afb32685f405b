"""Who gets in: token or session cookie, origin checks, the per-user connection limit, logout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected, login_cookie, login_session
from tests.support.processes import WebServer

pytestmark = pytest.mark.integration


def test_token_client_gets_connection_message_with_limits(web: WebServer, seed: Seed,
                                                          clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, token=seed.alice_token)
    data = connected(client)
    assert data["status"] == "connected" and data["authenticated"] is True
    assert data["user_id"] == seed.alice_id and data["auth"] == "token"
    assert data["heartbeat_interval"] == 25
    assert data["limits"]["max_subscriptions"] == 50
    assert data["limits"]["message_size_limit"] == 1024
    assert data["limits"]["rate_limit_messages_per_minute"] == 60
    assert data["limits"]["timeout"] == 300
    message = client.messages[0]
    assert message["connection_id"] == data["connection_id"] and message["timestamp"].endswith("Z")
    client.send("ping")
    assert client.expect_type("pong")["connection_id"] == data["connection_id"]


def test_session_cookie_with_own_origin(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, cookie=login_cookie(web), origin=web.url)
    data = connected(client)
    assert data["user_id"] == seed.alice_id and data["auth"] == "session"


def test_no_user_closes_4401_after_error(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, origin=web.url)
    assert client.wait_closed() == 4401
    assert [e["code"] for e in client.errors()] == [4401]
    assert not any(m["type"] == "connection" for m in client.messages)


def test_bad_token_closes_4401(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, token="pw_not-a-real-token")
    assert client.wait_closed() == 4401
    assert client.errors()[0]["code"] == 4401


def test_query_token_is_not_accepted(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    client = clients(f"{web.ws_url}?token={seed.alice_token}", origin=web.url)
    assert client.wait_closed() == 4401


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
def test_foreign_origin_closes_4403(web: WebServer, seed: Seed, clients: Callable[..., WsClient],
                                    origin: str) -> None:
    client = clients(web.ws_url, cookie=login_cookie(web), origin=origin)
    assert client.wait_closed() == 4403
    assert client.errors()[0]["code"] == 4403


def test_foreign_origin_refused_even_with_token(web: WebServer, seed: Seed,
                                                clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, token=seed.alice_token, origin="https://evil.example")
    assert client.wait_closed() == 4403


def test_missing_origin_needs_a_token(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, cookie=login_cookie(web))
    assert client.wait_closed() == 4403


def test_configured_origins(servers: Callable[..., WebServer], seed: Seed, clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_ALLOWED_ORIGINS="https://app.example.com, https://admin.example.com/")
    cookie = login_cookie(server)
    assert connected(clients(server.ws_url, cookie=cookie, origin="https://admin.example.com"))["user_id"]
    refused = clients(server.ws_url, cookie=cookie, origin=server.url)  # own origin no longer implied
    assert refused.wait_closed() == 4403


def test_logout_closes_session_sockets_4401(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    session = login_session(web)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    browser = clients(web.ws_url, cookie=cookie, origin=web.url)
    script = clients(web.ws_url, token=seed.alice_token)
    connected(browser)
    connected(script)
    assert session.post(web.url + "/auth/logout", json={}, timeout=5).status_code == 200
    assert browser.wait_closed() == 4401
    assert browser.errors()[-1]["code"] == 4401
    script.send("ping")
    script.expect_type("pong")  # a token socket is not a browser session: it stays


def test_plain_http_gets_426(web: WebServer) -> None:
    response = requests.get(web.ws_url.replace("ws://", "http://"), timeout=5)
    assert response.status_code == 426 and response.headers["Upgrade"] == "websocket"


def test_connections_per_user_limit_4429(servers: Callable[..., WebServer], seed: Seed,
                                         clients: Callable[..., WsClient]) -> None:
    first_server = servers(WEBSOCKET_MAX_CONNECTIONS_PER_USER=2)
    second_server = servers(WEBSOCKET_MAX_CONNECTIONS_PER_USER=2)
    # The limit is cluster-wide: two sockets on one process, the third on another is refused.
    for _ in range(2):
        connected(clients(first_server.ws_url, token=seed.alice_token))
    third = clients(second_server.ws_url, token=seed.alice_token)
    assert third.wait_closed() == 4429
    error = third.errors()[0]
    assert error["code"] == 4429 and error["retry_after"] > 0
    connected(clients(second_server.ws_url, token=seed.bob_token))  # other users are not affected


def test_open_sockets_hold_no_database_connection(servers: Callable[..., WebServer], seed: Seed,
                                                  clients: Callable[..., WsClient]) -> None:
    # The pool has 5 + 10 connections: if sockets kept theirs, the 16th would wait for one forever.
    server = servers(WEBSOCKET_MAX_CONNECTIONS_PER_USER=40)
    cookie = login_cookie(server)
    opened = [clients(server.ws_url, cookie=cookie, origin=server.url) for _ in range(25)]
    for client in opened:
        connected(client)
        client.send("subscribe_asset", {"symbol": "AAPL"})
        client.expect_type("asset_update", snapshot=True)
    assert requests.get(server.url + "/healthz", timeout=5).status_code in (200, 503)
