"""Client messages on an open socket: errors that keep it open, closes for abuse, snapshots, updates."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import websocket
from sqlalchemy import delete
from websocket import ABNF

from infra.bus import RedisBus
from models import ApiToken, db
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected, publish_asset, publish_portfolio, subscribe_and_wait
from tests.conftest import make_app
from tests.support.processes import WebServer

pytestmark = pytest.mark.integration


@pytest.fixture
def alice(web: WebServer, seed: Seed, clients: Callable[..., WsClient]) -> WsClient:
    client = clients(web.ws_url, token=seed.alice_token)
    connected(client)
    return client


def still_open(client: WsClient) -> None:
    client.send("ping")
    client.expect_type("pong")


@pytest.mark.parametrize(("frame", "words"), [
    ("{oops", "malformed JSON"),
    ('"just a string"', "JSON object"),
    ('{"type": "subscribe_everything", "data": {}}', "unknown message type"),
    ('{"type": "subscribe_asset", "data": {}}', "missing field: symbol"),
    ('{"type": "subscribe_portfolio", "data": {}}', "missing field: portfolio_id"),
    ('{"type": "subscribe_asset", "data": {"symbol": "DROP TABLE;"}}', "invalid symbol"),
    ('{"type": "subscribe_asset", "data": {"symbol": "AAPL", "max_hz": "fast"}}', "max_hz"),
])
def test_bad_input_gets_an_error_and_the_socket_stays(alice: WsClient, frame: str, words: str) -> None:
    alice.send_raw(frame)
    error = alice.expect_type("error")["data"]
    assert error["code"] == 4400 and words in error["message"]
    assert alice.messages[-1]["connection_id"] == alice.messages[0]["data"]["connection_id"]
    still_open(alice)


def test_too_many_subscriptions_is_an_error(servers: Callable[..., WebServer], seed: Seed,
                                            clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_MAX_SUBSCRIPTIONS_PER_CONNECTION=3)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    client.send("subscribe_asset", {"symbols": ["AAPL", "MSFT", "GOOG"]})
    for symbol in ("AAPL", "MSFT", "GOOG"):
        client.expect_type("subscribed", symbol=symbol)
    client.send("subscribe_asset", {"symbol": "AAPL"})  # already held: not a new subscription
    client.expect_type("subscribed", symbol="AAPL")
    client.send("subscribe_asset", {"symbol": "TSLA"})
    error = client.expect_type("error")["data"]
    assert error["code"] == 4400 and "subscription limit" in error["message"]
    client.send("unsubscribe_asset", {"symbol": "GOOG"})
    client.expect_type("unsubscribed", symbol="GOOG")
    subscribe_and_wait(client, "TSLA")


def test_subscribe_sends_the_stored_snapshot_at_once(alice: WsClient) -> None:
    ack = subscribe_and_wait(alice, "aapl")
    assert ack == {"channel": "asset:AAPL", "symbol": "AAPL", "resumed": False}
    snapshot = alice.expect_type("asset_update", symbol="AAPL")
    data = snapshot["data"]
    assert data["snapshot"] is True and data["seq"] == 5 and data["source"] == "simulated"
    assert data["price"] == 150.25 and data["as_of"].endswith("Z") and data["channel"] == "asset:AAPL"
    assert snapshot["connection_id"] == alice.messages[0]["data"]["connection_id"]


def test_live_updates_flow_and_stop_after_unsubscribe(alice: WsClient, bus: RedisBus) -> None:
    subscribe_and_wait(alice, "MSFT")
    alice.expect_type("asset_update", snapshot=True)
    publish_asset(bus, "MSFT", 6, "421.55")
    update = alice.expect_type("asset_update", seq=6)
    assert update["connection_id"] is None and "snapshot" not in update["data"]
    assert update["data"]["price"] == 421.55 and "published_at" not in update["data"]
    assert set(update) == {"type", "data", "timestamp", "connection_id"}
    alice.send("unsubscribe_asset", {"symbol": "MSFT"})
    alice.expect_type("unsubscribed", channel="asset:MSFT")
    publish_asset(bus, "MSFT", 7)
    alice.send("ping")
    alice.expect_type("pong")
    assert not any(m["type"] == "asset_update" and m["data"]["seq"] == 7 for m in alice.messages)


def test_own_portfolio_snapshot_and_foreign_one_refused(alice: WsClient, seed: Seed, bus: RedisBus) -> None:
    alice.send("subscribe_portfolio", {"portfolio_id": seed.alice_portfolio})
    alice.expect_type("subscribed", portfolio_id=seed.alice_portfolio)
    snapshot = alice.expect_type("portfolio_update", portfolio_id=seed.alice_portfolio)["data"]
    assert snapshot["snapshot"] is True and "seq" in snapshot
    publish_portfolio(bus, seed.alice_portfolio, snapshot["seq"] + 1)
    alice.expect_type("portfolio_update", seq=snapshot["seq"] + 1)

    messages = []
    for portfolio_id in (seed.bob_portfolio, 999_999):
        alice.send("subscribe_portfolio", {"portfolio_id": portfolio_id})
        error = alice.expect_type("error")["data"]
        assert error["code"] == 4403
        messages.append(error["message"].replace(str(portfolio_id), "N"))
    assert messages[0] == messages[1]  # no hint whether the portfolio exists
    still_open(alice)


def test_oversized_frame_closes_4413(alice: WsClient) -> None:
    alice.send_raw(json.dumps({"type": "ping", "data": {"pad": "x" * 5000}}))
    assert alice.wait_closed() == 4413
    assert alice.errors()[-1]["code"] == 4413


def test_huge_frame_is_cut_off_with_4413(alice: WsClient) -> None:
    alice.send_raw("x" * 2_000_000)
    assert alice.wait_closed() == 4413
    assert alice.errors()[-1]["code"] == 4413


def test_multibyte_frame_over_the_byte_limit_closes_4413(alice: WsClient) -> None:
    alice.send_raw(json.dumps({"type": "ping", "data": {"pad": "€" * 400}}, ensure_ascii=False))  # 1200+ bytes
    assert alice.wait_closed() == 4413


def test_flood_closes_4429_with_retry_after(servers: Callable[..., WebServer], seed: Seed,
                                            clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_RATE_LIMIT_MESSAGES_PER_MINUTE=5)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    for _ in range(6):
        client.send("ping")
    assert client.wait_closed() == 4429
    assert sum(1 for m in client.messages if m["type"] == "pong") == 5
    error = client.errors()[-1]
    assert error["code"] == 4429 and 1 <= error["retry_after"] <= 60


def test_idle_client_closed_4408(servers: Callable[..., WebServer], seed: Seed,
                                 clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_TIMEOUT=2)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    assert client.wait_closed() == 4408
    assert client.errors()[-1]["code"] == 4408


def test_server_pings_and_closes_a_peer_that_never_answers_1008(servers: Callable[..., WebServer], seed: Seed,
                                                                clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_HEARTBEAT_INTERVAL=1, WEBSOCKET_PONG_TIMEOUT=1)
    answering, silent = (clients(server.ws_url, token=token) for token in (seed.alice_token, seed.bob_token))
    connected(answering)
    connected(silent)
    opcodes, close = [], None
    silent.ws.settimeout(0.05)
    deadline = time.monotonic() + 15
    while close is None and time.monotonic() < deadline:
        assert answering.receive(timeout=0.05) is None  # websocket-client answers pings while it reads
        try:
            frame = silent.ws.recv_frame()  # raw frames: this one's pings go unanswered
        except websocket.WebSocketTimeoutException:
            continue
        if frame.opcode == ABNF.OPCODE_CLOSE:
            close = frame.data
        opcodes.append(frame.opcode)
    assert ABNF.OPCODE_PING in opcodes and close is not None
    assert int.from_bytes(close[:2], "big") == 1008 and b"Ping/Pong timeout" in close
    for _ in range(30):  # three more heartbeat intervals: the answering socket stays
        assert answering.receive(timeout=0.1) is None
    still_open(answering)


def test_a_client_not_reading_for_longer_than_the_pong_timeout_is_kept(
        servers: Callable[..., WebServer], seed: Seed, clients: Callable[..., WsClient]) -> None:
    # Issue 16, item 0: a round of pings lasted (sockets) x 1 s, so a lone socket was pinged every
    # second or two and closed 1008 when it did not read for a moment.
    server = servers(WEBSOCKET_HEARTBEAT_INTERVAL=20, WEBSOCKET_PONG_TIMEOUT=2)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    time.sleep(5)  # the behaviour under test: a client busy elsewhere, longer than the pong timeout
    still_open(client)


def test_min_change_percent_filters_small_moves(alice: WsClient, bus: RedisBus) -> None:
    subscribe_and_wait(alice, "AAPL", min_change_percent=1)
    alice.expect_type("asset_update", snapshot=True)  # 150.25
    publish_asset(bus, "AAPL", 6, "150.30")  # +0.03 %: not forwarded
    publish_asset(bus, "AAPL", 7, "152.00")  # +1.16 % from the last forwarded price
    assert alice.expect_type("asset_update", seq=7)["data"]["price"] == 152.0
    assert 6 not in [m["data"]["seq"] for m in alice.messages if m["type"] == "asset_update"]


def test_max_hz_conflates_to_the_latest(alice: WsClient, bus: RedisBus) -> None:
    subscribe_and_wait(alice, "MSFT", max_hz=1)
    alice.expect_type("asset_update", snapshot=True)
    for seq in range(6, 36):
        publish_asset(bus, "MSFT", seq, f"{400 + seq}.00")
    assert alice.expect_type("asset_update", seq=35)["data"]["price"] == 435.0  # the latest always arrives
    received = [m["data"]["seq"] for m in alice.messages if m["type"] == "asset_update" and m["data"]["seq"] > 5]
    assert received == sorted(received) and len(received) < 30


def test_revoked_token_is_noticed_on_subscribe(alice: WsClient, seed: Seed, pg_committed_url: str) -> None:
    subscribe_and_wait(alice, "AAPL")
    app = make_app({"DATABASE_URL": pg_committed_url})
    with app.app_context():
        db.session.execute(delete(ApiToken).where(ApiToken.user_id == seed.alice_id))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    alice.send("subscribe_asset", {"symbol": "MSFT"})
    assert alice.wait_closed() == 4401
    assert alice.errors()[-1]["code"] == 4401


def test_server_pings_and_compression_is_off_by_default(servers: Callable[..., WebServer], seed: Seed,
                                                         clients: Callable[..., WsClient]) -> None:
    server = servers(WEBSOCKET_HEARTBEAT_INTERVAL=1)
    client = clients(server.ws_url, token=seed.alice_token)
    assert "sec-websocket-extensions" not in {k.lower() for k in client.ws.getheaders()}
    client.ws.settimeout(10)
    opcode, _ = client.ws.recv_data_frame(control_frame=True)
    while opcode != ABNF.OPCODE_PING:
        opcode, _ = client.ws.recv_data_frame(control_frame=True)


def test_compression_when_enabled(servers: Callable[..., WebServer], seed: Seed) -> None:
    server = servers(WEBSOCKET_COMPRESSION="true")
    ws = websocket.create_connection(server.ws_url, suppress_origin=True, timeout=10, header=[
        f"Authorization: Bearer {seed.alice_token}", "Sec-WebSocket-Extensions: permessage-deflate"])
    try:
        assert "permessage-deflate" in ws.getheaders().get("sec-websocket-extensions", "")
    finally:
        ws.shutdown()
