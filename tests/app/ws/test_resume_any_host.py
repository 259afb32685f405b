"""Resume by seq on another web process: the missed updates come from the history Redis keeps per channel."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.bus import RedisBus
from protocol.channels import asset_channel
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected, publish_asset, subscribe_and_wait
from tests.support.processes import WebServer

pytestmark = pytest.mark.integration

MISSED = 20


def updates(client: WsClient, count: int) -> list[dict[str, object]]:
    """The data of the next `count` asset updates."""
    return [client.expect_type("asset_update")["data"] for _ in range(count)]


def test_reconnect_to_another_process_gets_exactly_what_was_missed(
        servers: Callable[..., WebServer], seed: Seed, bus: RedisBus, clients: Callable[..., WsClient]) -> None:
    first, second = servers(), servers()
    on_a = clients(first.ws_url, token=seed.alice_token)
    connected(on_a)
    subscribe_and_wait(on_a, "AAPL")
    assert on_a.expect_type("asset_update")["data"]["seq"] == 5  # the snapshot
    publish_asset(bus, "AAPL", 6)
    assert on_a.expect_type("asset_update", seq=6)["data"].get("snapshot") is None
    on_a.close()

    for seq in range(7, 7 + MISSED):
        publish_asset(bus, "AAPL", seq, f"{150 + seq}.00")

    on_b = clients(second.ws_url, token=seed.alice_token)
    connected(on_b)
    assert subscribe_and_wait(on_b, "AAPL", last_seq=6)["resumed"] is True
    got = updates(on_b, MISSED)
    assert [item["seq"] for item in got] == list(range(7, 7 + MISSED))
    assert all(item["resumed"] is True and not item.get("snapshot") for item in got)
    assert [item["price"] for item in got] == [float(150 + seq) for seq in range(7, 7 + MISSED)]
    publish_asset(bus, "AAPL", 7 + MISSED)  # and live again, nothing repeated in between
    assert on_b.expect_type("asset_update")["data"]["seq"] == 7 + MISSED


def test_history_gone_means_a_snapshot(servers: Callable[..., WebServer], seed: Seed, bus: RedisBus,
                                       clients: Callable[..., WsClient]) -> None:
    """The history starts at seq 6: a client that last saw seq 1 cannot be caught up from it."""
    server = servers()
    for seq in range(6, 30):
        publish_asset(bus, "AAPL", seq)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    assert subscribe_and_wait(client, "AAPL", last_seq=1)["resumed"] is False
    snapshot = client.expect_type("asset_update", channel=asset_channel("AAPL"))["data"]
    assert snapshot["snapshot"] is True
