"""Redis restarted or frozen under live sockets: clients stay, see feed_status, get fresh state, resume."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests

from infra.bus import BusError, RedisBus
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, Services, connected, publish_asset, store_quote, subscribe_and_wait
from tests.support.private_services import PrivateRedis
from tests.support.processes import ManagedProcess, WebServer, free_port
from tests.support.services import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def publish_until_heard(bus: RedisBus, symbol: str, first_seq: int, timeout: float = 30) -> int:
    """Publish increasing seqs until a relay is subscribed again; the seq that was heard."""
    seq = [first_seq]

    def heard() -> bool:
        try:
            if publish_asset(bus, symbol, seq[0]) > 0:
                return True
        except (BusError, redis.RedisError):
            pass
        seq[0] += 1
        return False

    wait_for(heard, timeout=timeout, interval=0.2, message="the relay to listen again")
    return seq[0]


def statuses(client: WsClient) -> list[str]:
    return [m["data"]["status"] for m in client.messages if m["type"] == "feed_status"]


def test_redis_restart_mid_stream(servers: Callable[..., WebServer], seed: Seed, private_redis: PrivateRedis,
                                  services: Services, clients: Callable[..., WsClient]) -> None:
    server = servers(redis_url=private_redis.url, WEBSOCKET_BUS_PROBE_INTERVAL=1)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    subscribe_and_wait(client, "AAPL")
    client.expect_type("asset_update", snapshot=True)
    bus = RedisBus(private_redis.url, services.prefix)
    publish_asset(bus, "AAPL", 6)
    client.expect_type("asset_update", seq=6)

    private_redis.kill()
    degraded = client.expect_type("feed_status", timeout=20, status="degraded")
    assert degraded["data"]["source"] == "relay"
    store_quote(services.database_url, "AAPL", 7, "155.00")  # the feed stored a price it could not publish
    private_redis.start()  # same port, empty
    client.expect_type("feed_status", timeout=40, status="recovered")
    fresh = client.expect_type("asset_update", snapshot=True, seq=7)["data"]  # fresh state from the store
    assert fresh["price"] == 155.0
    seq = publish_until_heard(bus, "AAPL", 8)
    client.expect_type("asset_update", seq=seq)
    client.send("ping")
    client.expect_type("pong")  # the same socket all along
    assert statuses(client) == ["degraded", "recovered"]
    bus.close()


def test_silent_redis_is_noticed(servers: Callable[..., WebServer], seed: Seed, private_redis: PrivateRedis,
                                 redis_prefix: str, clients: Callable[..., WsClient]) -> None:
    server = servers(redis_url=private_redis.url, WEBSOCKET_BUS_PROBE_INTERVAL=1)
    client = clients(server.ws_url, token=seed.alice_token)
    connected(client)
    subscribe_and_wait(client, "MSFT")
    private_redis.freeze(True)  # connections stay open, nothing answers
    try:
        client.expect_type("feed_status", timeout=30, status="degraded")
        client.send("ping")
        client.expect_type("pong")  # sockets stay up while the bus is away
        subscribe_and_wait(client, "AAPL")  # and still answer subscribes from the store
        client.expect_type("asset_update", snapshot=True, symbol="AAPL")
        client.send("ping")
        client.expect_type("pong")  # nothing on the subscribe path waits for the frozen Redis
    finally:
        private_redis.freeze(False)
    client.expect_type("feed_status", timeout=60, status="recovered")
    bus = RedisBus(private_redis.url, redis_prefix)
    seq = publish_until_heard(bus, "MSFT", 6)
    client.expect_type("asset_update", seq=seq)
    bus.close()


def test_embedded_mode_without_redis(tmp_path: Path, pg_committed_url: str, seed: Seed,
                                     clients: Callable[..., WsClient]) -> None:
    """Python wsgi.py: gevent's own server, the in-process bus; sockets work the same."""
    from tests.support.processes import BIN, service_env

    port = free_port()
    env = service_env(pg_committed_url, None, "embedded", PORT=str(port))
    env["PRICEWIRE_INSTANCE_PATH"] = str(tmp_path / "instance")
    process = ManagedProcess([str(BIN / "python"), "wsgi.py"], env, tmp_path / "embedded.log").start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url) or not process.alive(), timeout=30, interval=0.1, message="embedded server")
        assert process.alive(), process.log()[-2000:]
        client = clients(f"ws://127.0.0.1:{port}/ws/realtime/", token=seed.alice_token)
        assert connected(client)["user_id"] == seed.alice_id
        subscribe_and_wait(client, "AAPL")
        assert client.expect_type("asset_update", snapshot=True)["data"]["seq"] >= 5  # the embedded feed may tick
        client.send("ping")
        client.expect_type("pong")
        process.signal(signal.SIGTERM)
        assert client.wait_closed() == 1001  # a graceful stop says "going away" first
        wait_for(lambda: not process.alive(), timeout=30, message="the embedded server to exit")
    finally:
        process.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code in (200, 503)
    except requests.RequestException:
        return False
