"""Memory of a real gunicorn worker under churn (issue 16, item 5): flat once the churn ends.

One worker, 20,000 subscribe/unsubscribe cycles on one socket and 10,000 connects; its RSS must come
back within 10% of what it was after a warm-up. Before the collect-then-freeze fix the periodic
gc.freeze() froze the cyclic garbage of each cycle and the worker grew by ~28 MiB per 5,000 cycles.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import websocket

from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected
from tests.support.processes import WebServer
from tests.support.services import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.integration]

BATCH = 100  # frames in flight at once


def worker_rss(server: WebServer) -> int:
    """RSS in bytes of the (single) gunicorn worker."""
    assert server.process is not None
    children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    assert len(children) == 1, children
    return int(psutil.Process(int(children[0])).memory_info().rss)


def churn_subscriptions(client: WsClient, cycles: int) -> None:
    """`cycles` subscribe+unsubscribe pairs, BATCH at a time, each answered before the next batch."""
    done = 0
    while done < cycles:
        batch = min(BATCH, cycles - done)
        for index in range(batch):
            symbol = ("AAPL", "MSFT")[index % 2]
            client.send_raw(json.dumps({"type": "subscribe_asset", "data": {"symbol": symbol}}))
            client.send_raw(json.dumps({"type": "unsubscribe_asset", "data": {"symbol": symbol}}))
        answered = 0
        while answered < batch:
            message = client.receive(10)
            assert message is not None, "the server stopped answering"
            assert message["type"] != "error", message
            answered += message["type"] == "unsubscribed"
        client.messages.clear()
        done += batch


def churn_connections(url: str, token: str, count: int) -> None:
    """`count` sockets opened, greeted and closed, eight at a time."""

    def one(_: int) -> None:
        ws = websocket.create_connection(url, header=[f"Authorization: Bearer {token}"], suppress_origin=True,
                                         timeout=30)
        try:
            assert json.loads(ws.recv())["type"] == "connection"
        finally:
            ws.close(timeout=2)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


@pytest.mark.timeout(1800)
def test_worker_memory_is_flat_after_subscription_and_connection_churn(
        servers: Callable[..., WebServer], seed: Seed) -> None:
    server = servers(WEBSOCKET_RATE_LIMIT_MESSAGES_PER_MINUTE=10_000_000, WEBSOCKET_MAX_CONNECTIONS_PER_USER=10_000,
                     WEBSOCKET_MAX_SUBSCRIPTIONS_PER_CONNECTION=200, WEBSOCKET_GC_FREEZE_INTERVAL=1,
                     WEBSOCKET_MESSAGE_SIZE_LIMIT=4096)
    client = WsClient(server.ws_url, token=seed.alice_token)
    try:
        connected(client)
        churn_subscriptions(client, 2_000)  # warm-up: allocator pools, caches, lazily built state
        churn_connections(server.ws_url, seed.bob_token, 1_000)
        baseline = worker_rss(server)
        started = time.monotonic()
        churn_subscriptions(client, 20_000)
        phases = {"subscribe/unsubscribe": time.monotonic() - started, "after": worker_rss(server) / 2**20}
        churn_connections(server.ws_url, seed.bob_token, 10_000)
        phases.update(connects=time.monotonic() - started, after_connects=worker_rss(server) / 2**20)
    finally:
        client.close()
    print(f"baseline {baseline / 2**20:.1f} MiB; {phases}")  # in the report when the test fails
    limit = baseline * 1.10
    # Poll, not sleep: the freeze step every second collects the young garbage.
    final = wait_for(lambda: (rss := worker_rss(server)) <= limit and rss, timeout=60, interval=1,
                     message=f"worker RSS back within 10% of {baseline / 2**20:.1f} MiB")
    assert final <= limit
