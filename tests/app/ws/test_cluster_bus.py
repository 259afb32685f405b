"""Redis Cluster with sharded pub/sub: symbols spread over three shards, two web processes, one master killed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis.cluster import key_slot

from infra.bus.cluster import RedisClusterBus
from protocol.channels import asset_channel
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected, publish_asset
from tests.app.ws.failover import publish_until_heard, reading, received
from tests.support.processes import WebServer
from tests.support.redis_servers import RedisCluster, start_cluster
from tests.support.services import wait_for

pytestmark = pytest.mark.integration

CANDIDATES = ("AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "IBM", "ORCL", "INTC", "AMD", "CSCO")


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisCluster]:
    cluster = start_cluster(tmp_path / "redis")
    yield cluster
    cluster.stop()


def shard_of(bus: RedisClusterBus, symbol: str) -> int:
    """The port of the master that owns a symbol's channel now."""
    slot = key_slot((bus.prefix + asset_channel(symbol)).encode())
    return int(bus.cluster.nodes_manager.get_node_from_slot(slot).port)


def one_symbol_per_shard(bus: RedisClusterBus) -> dict[int, str]:
    """Master port -> a symbol whose channel lives there (covering every shard)."""
    chosen: dict[int, str] = {}
    for symbol in CANDIDATES:
        chosen.setdefault(shard_of(bus, symbol), symbol)
    assert len(chosen) == 3, f"candidates cover only {len(chosen)} shards"
    return chosen


def sharded_subscribers(cluster: RedisCluster, port: int) -> int:
    """Connections holding sharded subscriptions on one node (CLIENT LIST's ssub=)."""
    clients = cluster.node(port).client().client_list()
    return sum(1 for item in clients if int(item.get("ssub", 0)) > 0)


def subscribe_all(sockets: list[WsClient], symbols: list[str]) -> None:
    """Every socket subscribes to every symbol and sees each ack."""
    for client in sockets:
        connected(client)
        client.send("subscribe_asset", {"symbols": symbols})
        for symbol in symbols:
            client.expect_type("subscribed", channel=asset_channel(symbol))


def expect_everywhere(sockets: list[WsClient], symbols: list[str], seq: int) -> None:
    """Every socket has (or gets) the update `seq` of every symbol."""
    for client in sockets:
        for symbol in symbols:
            received(client, "asset_update", symbol=symbol, seq=seq)


def publish_all(bus: RedisClusterBus, symbols: list[str], seq: int) -> list[int]:
    """Publish update `seq` of every symbol; how many processes each reached (SPUBLISH's count on its shard)."""
    return [publish_asset(bus, symbol, seq) for symbol in symbols]


def kill_master(cluster: RedisCluster, bus: RedisClusterBus, sockets: list[WsClient], port: int, symbol: str) -> None:
    """SIGKILL the master on `port` and wait until a replica serves `symbol`'s slot."""
    cluster.node(port).kill()
    wait_for(reading(sockets, lambda: shard_of_fresh(bus, symbol) not in (None, port)), timeout=60,
             interval=0.3, message="a replica to take over the killed master's slots")


@pytest.mark.timeout(240)
def test_sharded_fan_out_survives_a_master_failure(servers: Callable[..., WebServer], seed: Seed,
                                                   redis_cluster: RedisCluster, redis_prefix: str,
                                                   clients: Callable[..., WsClient]) -> None:
    bus = RedisClusterBus(redis_cluster.url, redis_prefix)
    by_shard = one_symbol_per_shard(bus)
    symbols = sorted(by_shard.values())
    webs = [servers(REDIS_CLUSTER_URL=redis_cluster.url, WEBSOCKET_BUS_PROBE_INTERVAL=1) for _ in range(2)]
    sockets = [clients(web.ws_url, token=seed.alice_token) for web in webs]
    subscribe_all(sockets, symbols)
    for port in by_shard:  # one connection per shard per web process (the probe channel may add one elsewhere)
        assert sharded_subscribers(redis_cluster, port) == 2

    assert publish_all(bus, symbols, 10) == [2] * len(symbols)  # seq 10: above the seeded snapshots; both processes
    expect_everywhere(sockets, symbols, 10)

    victim_port, victim_symbol = next(iter(by_shard.items()))
    kill_master(redis_cluster, bus, sockets, victim_port, victim_symbol)
    heard = publish_until_heard(bus, sockets, victim_symbol, 11, listeners=2)
    for client in sockets:
        live = received(client, "asset_update", symbol=victim_symbol, seq=heard)
        assert not live["data"].get("snapshot")
    others = [symbol for symbol in symbols if symbol != victim_symbol]
    publish_all(bus, others, heard + 1)
    expect_everywhere(sockets, others, heard + 1)
    bus.close()


def shard_of_fresh(bus: RedisClusterBus, symbol: str) -> int | None:
    """The owner of a symbol's slot after re-reading the slot map (None while the cluster cannot say)."""
    try:
        bus.cluster.nodes_manager.initialize()
    except Exception:
        return None
    return shard_of(bus, symbol)
