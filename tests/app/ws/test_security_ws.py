"""The socket side of issue 16: made-up symbols, feed-request caps, dead sessions, revoked tokens, bad UTF-8."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
import redis
from sqlalchemy import func, select

from models import Asset, db
from protocol.channels import asset_channel
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, Services, connected, login_session
from tests.conftest import make_app
from tests.support.processes import BIN, ROOT, WebServer, service_env

pytestmark = pytest.mark.integration

FAKES = [f"FAKE{n}" for n in range(50)]


def asset_count(database_url: str) -> int:
    app = make_app({"DATABASE_URL": database_url})
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Asset)) or 0
        db.session.remove()
        db.engine.dispose()
    return int(count)


def requested(services: Services) -> set[str]:
    client = redis.Redis.from_url(services.redis_url, decode_responses=True)
    try:
        return set(client.zrange(f"{services.prefix}:feed:requested", 0, -1))
    finally:
        client.close()


def test_made_up_symbols_are_refused_and_nothing_is_stored(servers: Callable[..., WebServer], seed: Seed,
                                                            services: Services,
                                                            clients: Callable[..., WsClient]) -> None:
    server = servers(SIMULATED_FAIL_SYMBOLS=",".join(FAKES))  # the provider knows none of them
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    before = asset_count(services.database_url)
    for _ in range(2):  # the second time from the negative cache
        client.send("subscribe_asset", {"symbols": FAKES})
        error = client.expect_type("error")["data"]
        assert error["code"] == 4400 and error["message"].startswith("unknown symbol: FAKE")
    client.send("subscribe_asset", {"symbols": ["AAPL", "FAKE1"]})
    assert client.expect_type("subscribed")["data"]["channel"] == asset_channel("AAPL")
    assert asset_count(services.database_url) == before
    assert not any(symbol.startswith("FAKE") for symbol in requested(services))
    assert not any(m["type"] == "subscribed" and "FAKE" in m["data"]["channel"] for m in client.messages)


def test_new_symbols_per_user_are_capped(servers: Callable[..., WebServer], seed: Seed, services: Services,
                                         clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_MAX_FEED_REQUESTS_PER_USER=3)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    client.send("subscribe_asset", {"symbols": ["NEWA", "NEWB", "NEWC", "NEWD", "NEWE"]})
    error = client.expect_type("error")["data"]
    assert "feed request limit reached: 2 new symbol(s) refused" in error["message"]
    acked = {client.expect_type("subscribed")["data"]["symbol"] for _ in range(3)}
    assert acked == {"NEWA", "NEWB", "NEWC"}
    assert {"NEWD", "NEWE"}.isdisjoint(requested(services))
    client.send("subscribe_asset", {"symbol": "MSFT"})  # stored symbols are not new: always fine
    assert client.expect_type("subscribed")["data"]["symbol"] == "MSFT"


def test_a_cookie_saved_before_logout_opens_no_socket(web: WebServer, seed: Seed,
                                                      clients: Callable[..., WsClient]) -> None:
    session = login_session(web)
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    assert session.post(web.url + "/auth/logout", json={}, timeout=5).status_code == 200
    replayed = clients(web.ws_url, cookie=cookie, origin=web.url)
    assert replayed.wait_closed() == 4401


def flask_cli(services: Services, *args: str) -> subprocess.CompletedProcess[str]:
    env = service_env(services.database_url, services.redis_url, services.prefix)
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_logout_everywhere_closes_browser_sockets(web: WebServer, seed: Seed, services: Services,
                                                  clients: Callable[..., WsClient]) -> None:
    cookie = "; ".join(f"{k}={v}" for k, v in login_session(web).cookies.items())
    browser = clients(web.ws_url, cookie=cookie, origin=web.url)
    connected(browser)
    result = flask_cli(services, "users", "logout-everywhere", "alice")
    assert result.returncode == 0, result.stderr
    assert browser.wait_closed() == 4401
    assert clients(web.ws_url, cookie=cookie, origin=web.url).wait_closed() == 4401


def test_revoking_a_token_closes_its_sockets_at_once(web: WebServer, seed: Seed, services: Services,
                                                     clients: Callable[..., WsClient]) -> None:
    script = clients(web.ws_url, token=seed.alice_token)
    other = clients(web.ws_url, token=seed.bob_token)
    connected(script)
    connected(other)
    listed = flask_cli(services, "tokens", "list", "--user", "alice")
    assert listed.returncode == 0, listed.stderr
    token_id = listed.stdout.strip().splitlines()[-1].split("\t")[0]
    assert flask_cli(services, "tokens", "revoke", token_id).returncode == 0
    assert script.wait_closed() == 4401
    assert script.errors()[-1]["message"] == "token revoked"
    other.send("ping")
    other.expect_type("pong")


def test_invalid_utf8_gets_an_error_then_1007(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> None:
    client = clients(web.ws_url, token=seed.alice_token)
    connected(client)
    client.ws.send(b"{\"type\": \"ping\", \"x\": \"\xff\xfe\"}", opcode=1)  # a text frame that is not UTF-8
    assert client.wait_closed() == 1007
    assert client.errors()[-1]["code"] == 1007
