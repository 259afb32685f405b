"""The relay: resume by seq, several web processes, slow clients, and the ConnectionManager."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable

import pytest
import requests
import websocket

from app.realtime import ConnectionManager
from app.realtime.cluster import ClusterState
from infra.bus import RedisBus
from protocol.bus import bus_message
from protocol.channels import asset_channel
from protocol.client import ASSET_UPDATE
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import (
    Seed,
    Services,
    asset_data,
    connected,
    publish_asset,
    store_quote,
    subscribe_and_wait,
    wait_quiet,
)
from tests.conftest import make_app
from tests.support.processes import WebServer
from tests.support.services import wait_for

pytestmark = pytest.mark.integration


def seqs(client: WsClient, **flags: object) -> list[int]:
    return [m["data"]["seq"] for m in client.messages if m["type"] == "asset_update"
            and all(m["data"].get(k) == v for k, v in flags.items())]


def test_resume_from_the_buffer(web: WebServer, seed: Seed, bus: RedisBus, clients: Callable[..., WsClient]) -> None:
    first = clients(web.ws_url, token=seed.alice_token)
    connected(first)
    subscribe_and_wait(first, "AAPL")
    for seq in (6, 7, 8):
        publish_asset(bus, "AAPL", seq)
    first.expect_type("asset_update", seq=8)
    first.close()
    for seq in (9, 10):  # missed while reconnecting; the relay keeps listening for a while
        publish_asset(bus, "AAPL", seq)
    second = clients(web.ws_url, token=seed.alice_token)
    connected(second)

    def resumed() -> bool:
        # The relay may still be taking 9 and 10 off the bus: ask until the buffer covers them.
        second.send("subscribe_asset", {"symbol": "AAPL", "last_seq": 8})
        ack = second.expect_type("subscribed", channel="asset:AAPL")
        return bool(ack["data"]["resumed"]) and bool(second.expect_type("asset_update", seq=10))

    wait_for(resumed, timeout=10, interval=0.1, message="a resumed subscription")
    replayed = [m["data"] for m in second.messages if m["type"] == "asset_update"][-2:]
    assert [d["seq"] for d in replayed] == [9, 10] and all(d["resumed"] is True for d in replayed)
    assert not any(d.get("snapshot") for d in replayed)


def test_gap_older_than_the_buffer_gets_a_snapshot(servers: Callable[..., WebServer], seed: Seed, bus: RedisBus,
                                                   clients: Callable[..., WsClient], pg_committed_url: str) -> None:
    server = servers(WEBSOCKET_RESUME_BUFFER_SIZE=3)
    watcher = clients(server.ws_url, token=seed.alice_token)
    connected(watcher)
    subscribe_and_wait(watcher, "AAPL")
    publisher = RedisBus("", bus.prefix.rstrip(":"), history=3, client=bus.client)  # Redis keeps 3 as well
    for seq in range(6, 13):
        publish_asset(publisher, "AAPL", seq, f"{150 + seq}.00")
    watcher.expect_type("asset_update", seq=12)
    store_quote(pg_committed_url, "AAPL", 12, "162.00")
    late = clients(server.ws_url, token=seed.alice_token)
    connected(late)
    ack = subscribe_and_wait(late, "AAPL", last_seq=6)  # 7..9 already left the 3-message buffer
    assert ack["resumed"] is False
    snapshot = late.expect_type("asset_update", symbol="AAPL")["data"]
    assert snapshot["snapshot"] is True and snapshot["seq"] == 12 and snapshot["price"] == 162.0


def test_every_web_process_delivers_to_its_own_clients(servers: Callable[..., WebServer], seed: Seed,
                                                       bus: RedisBus, clients: Callable[..., WsClient],
                                                       cluster: ClusterState) -> None:
    first, second = servers(), servers()
    on_first = clients(first.ws_url, token=seed.alice_token)
    on_second = clients(second.ws_url, token=seed.bob_token)
    pids = {connected(on_first)["connection_id"], connected(on_second)["connection_id"]}
    assert len(pids) == 2
    for client in (on_first, on_second):
        subscribe_and_wait(client, "MSFT")
    assert publish_asset(bus, "MSFT", 6, "425.00") == 2  # two listeners: one per process, not per client
    for client in (on_first, on_second):
        assert client.expect_type("asset_update", seq=6)["data"]["price"] == 425.0
    stats = wait_quiet(cluster, connections=2)
    assert len({item["pid"] for item in stats}) == 2


def test_a_stalled_client_does_not_delay_others(servers: Callable[..., WebServer], seed: Seed, bus: RedisBus,
                                                clients: Callable[..., WsClient], cluster: ClusterState) -> None:
    server = servers(WEBSOCKET_SEND_QUEUE_SIZE=32, WEBSOCKET_SEND_TIMEOUT=2)
    stalled = clients(server.ws_url, token=seed.bob_token, rcvbuf=4096)
    connected(stalled)
    subscribe_and_wait(stalled, "AAPL")  # ...and never reads again
    reader = clients(server.ws_url, token=seed.alice_token)
    connected(reader)
    subscribe_and_wait(reader, "AAPL")
    padding = "x" * 32_000
    published = [5]

    def stalled_dropped() -> bool:
        # Keep publishing until the stuck socket is gone: how many 32 KB updates fill the kernel's buffers
        # (and the send deadline) depends on the machine, so no fixed count is assumed.
        for _ in range(10):
            published[0] += 1
            data = {**asset_data("AAPL", published[0]), "note": padding}
            bus.publish(asset_channel("AAPL"), bus_message(ASSET_UPDATE, data, time.time()))
        reader.expect_type("asset_update", seq=published[0])  # keeps up while the other one is stuck
        return sum(item["connections"] for item in cluster.summaries()) == 1

    wait_for(stalled_dropped, timeout=60, interval=0.05, message="the stalled socket to be dropped")
    assert seqs(reader, snapshot=None) == list(range(6, published[0] + 1))  # every update, in order
    # The stuck one was dropped (send deadline / queue full too long) and the process keeps one socket.
    stats = wait_quiet(cluster, connections=1, timeout=30)
    assert stats[0]["messages_dropped"] == 0  # the remaining reader lost nothing


def test_connection_manager_counts_and_broadcasts(servers: Callable[..., WebServer], seed: Seed,
                                                  clients: Callable[..., WsClient], services: Services) -> None:
    first, second = servers(), servers()
    a1 = clients(first.ws_url, token=seed.alice_token)
    a2 = clients(second.ws_url, token=seed.alice_token)
    b1 = clients(second.ws_url, token=seed.bob_token)
    for client in (a1, a2, b1):
        connected(client)
    subscribe_and_wait(a1, "AAPL")
    a2.send("subscribe_portfolio", {"portfolio_id": seed.alice_portfolio})
    a2.expect_type("subscribed", portfolio_id=seed.alice_portfolio)
    subscribe_and_wait(b1, "AAPL")

    # A script or worker: an app context with the same Redis, no sockets of its own.
    app = make_app({"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url,
                    "REDIS_KEY_PREFIX": services.prefix})
    with app.app_context():
        manager = ConnectionManager()
        wait_for(lambda: manager.get_connection_count() == 3 and manager.get_total_asset_subscriptions() == 2
                 and manager.get_total_portfolio_subscriptions() == 1, timeout=10, message="cluster counts")
        assert manager.get_authenticated_user_count() == 2
        mine = manager.get_user_connections(seed.alice_id)
        assert len(mine) == 2 and len({item["process"] for item in mine}) == 2
        assert {tuple(item["subscriptions"]) for item in mine} == {("asset:AAPL",),
                                                                   (f"portfolio:{seed.alice_portfolio}",)}
        assert all({"connection_id", "connected_at", "remote_addr", "messages_sent", "messages_dropped"} <= set(item)
                   for item in mine)
        assert manager.local_stats()["connections"] == 0  # this process holds none

        note = {"type": "notification", "data": {"message": "Portfolio updated successfully", "level": "info"}}
        assert manager.broadcast_to_user(seed.alice_id, note) == 2
        for client in (a1, a2):
            assert client.expect_type("notification")["data"] == note["data"]
        manager.broadcast_to_asset_subscribers("aapl", {"type": "asset_update",
                                                        "data": {"symbol": "AAPL", "price": 150.5, "change": 2.5}})
        for client in (a1, b1):
            assert client.expect_type("asset_update", price=150.5)["data"] == {"symbol": "AAPL", "price": 150.5,
                                                                                "change": 2.5}
        manager.broadcast_to_portfolio_subscribers(seed.alice_portfolio, {
            "type": "portfolio_update", "data": {"portfolio_id": seed.alice_portfolio, "total_value": 1.5}})
        assert a2.expect_type("portfolio_update", total_value=1.5)
        with pytest.raises(ValueError):
            manager.broadcast_to_user(seed.alice_id, {"type": "_logout", "data": {}})
    assert not any(m["type"] == "notification" for m in b1.messages)


def test_sigterm_says_going_away_1001_then_the_server_exits(servers: Callable[..., WebServer], seed: Seed,
                                                             clients: Callable[..., WsClient]) -> None:
    server = servers()
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    server.signal(signal.SIGTERM)  # what honcho, docker and systemd send
    assert client.wait_closed() == 1001  # not a dropped TCP connection: clients reconnect at once
    assert client.close_reason == "server shutting down"
    wait_for(lambda: not server.alive(), timeout=30, message="gunicorn to exit")


def test_sockets_opened_after_sigterm_get_1001_too(servers: Callable[..., WebServer], seed: Seed,
                                                   clients: Callable[..., WsClient]) -> None:
    # Issue 16, item 6: clients reconnecting at once landed on the stopping worker before it stopped
    # accepting, never got a 1001, and were dropped (1006) when the graceful timeout ended.
    server = servers()
    first = clients(server.ws_url, token=seed.alice_token)
    connected(first)
    server.signal(signal.SIGTERM)
    assert first.wait_closed() == 1001
    codes = []
    while server.alive() and len(codes) < 20:
        try:
            again = WsClient(server.ws_url, token=seed.alice_token, timeout=5)
        except (OSError, websocket.WebSocketException):
            break  # the worker stopped accepting: the client tries elsewhere
        try:
            codes.append(again.wait_closed(timeout=15))
        finally:
            again.close()
    assert codes and set(codes) == {1001}


def test_metrics_of_a_two_worker_server_are_the_cluster_totals(servers: Callable[..., WebServer], seed: Seed,
                                                                cluster: ClusterState,
                                                                clients: Callable[..., WsClient]) -> None:
    server = servers(workers=2)  # gunicorn.conf.py turns on prometheus multiprocess mode
    for token in [seed.alice_token, seed.bob_token] * 3:
        connected(clients(server.ws_url, token=token))
    assert sum(item["connections"] for item in wait_quiet(cluster, 6)) == 6

    def scrape() -> str:
        response = requests.get(server.url + "/metrics", timeout=5)
        assert response.status_code == 200
        return response.text

    for text in (scrape() for _ in range(8)):  # whichever worker answers
        assert re.search(r"^pricewire_ws_connections 6\.0$", text, re.MULTILINE), text[:2000]
        names = re.findall(r"^# TYPE (\S+)", text, re.MULTILINE)
        assert len(names) == len(set(names))  # one family per name: a valid document
