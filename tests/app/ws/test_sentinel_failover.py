"""Redis Sentinel: the master is killed mid-stream; publisher and relay carry on through the promoted replica."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.bus import SentinelBus, create_bus
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected, publish_asset, subscribe_and_wait
from tests.app.ws.failover import publish_until_heard, reading, received
from tests.support.processes import WebServer
from tests.support.redis_servers import SentinelGroup, start_sentinel_group
from tests.support.services import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = start_sentinel_group(tmp_path / "redis")
    yield group
    group.stop()


def bus_health(web: WebServer) -> dict[str, Any]:
    """The bus part of /health (any status code: during the failover it says degraded)."""
    return requests.get(web.url + "/health", timeout=10).json()["services"]["bus"]  # type: ignore[no-any-return]


@pytest.mark.timeout(180)
def test_master_killed_mid_stream(servers: Callable[..., WebServer], seed: Seed, sentinel_group: SentinelGroup,
                                  redis_prefix: str, clients: Callable[..., WsClient]) -> None:
    web = servers(redis_url=sentinel_group.url, WEBSOCKET_BUS_PROBE_INTERVAL=1)
    bus = create_bus(sentinel_group.url, redis_prefix)
    assert isinstance(bus, SentinelBus)
    client = clients(web.ws_url, token=seed.alice_token)
    connected(client)
    subscribe_and_wait(client, "AAPL")
    client.expect_type("asset_update", seq=5)  # the snapshot
    publish_asset(bus, "AAPL", 6)
    client.expect_type("asset_update", seq=6)
    before = bus_health(web)
    assert before["mode"] == "sentinel" and before["master"] == f"127.0.0.1:{sentinel_group.master.port}"

    sentinel_group.master.kill()
    client.expect_type("feed_status", status="degraded", timeout=30)
    wait_for(reading([client], lambda: sentinel_group.master_port() == sentinel_group.replica.port), timeout=60,
             interval=0.2, message="sentinels to promote the replica")
    heard = publish_until_heard(bus, [client], "AAPL", 7)
    received(client, "feed_status", status="recovered")
    live = received(client, "asset_update", seq=heard)
    assert not live["data"].get("snapshot")
    degraded_at = next(i for i, m in enumerate(client.messages) if m["type"] == "feed_status"
                       and m["data"]["status"] == "degraded")
    between = [m for m in client.messages[degraded_at:] if m["type"] == "asset_update" and m is not live]
    assert all(m["data"].get("snapshot") is True for m in between), "only flagged snapshots before live updates"
    after = wait_for(reading([client], lambda: (h := bus_health(web))["failovers_seen"] >= 1 and h), timeout=30,
                     interval=0.5, message="/health to report the failover")
    assert after["master"] == f"127.0.0.1:{sentinel_group.replica.port}"
    publish_asset(bus, "AAPL", heard + 1)
    client.expect_type("asset_update", seq=heard + 1)
    bus.close()
