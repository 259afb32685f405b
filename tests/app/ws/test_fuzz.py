"""Hypothesis-made client frames never crash the server nor leave greenlets or sockets behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.realtime.cluster import ClusterState
from tests.app.ws.client import Closed, WsClient
from tests.app.ws.conftest import Seed, connected, wait_quiet
from tests.support.processes import WebServer

pytestmark = pytest.mark.integration

TYPES = ["ping", "subscribe_asset", "unsubscribe_asset", "subscribe_portfolio", "unsubscribe_portfolio", "pong",
         "", "_logout"]
FIELDS = ["symbol", "symbols", "portfolio_id", "max_hz", "min_change_percent", "last_seq", "data", "type"]
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
           | st.text(max_size=12) | st.sampled_from(["AAPL", "msft", "EURUSD=X", "1", "-1"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=12)
messages = st.builds(lambda kind, data: json.dumps({"type": kind, "data": data}), st.sampled_from(TYPES),
                     st.dictionaries(st.sampled_from(FIELDS), values, max_size=4))


class TextBytes(bytes):
    """Bytes sent in a *text* frame: not UTF-8 (issue 16: an error, then 1007)."""


frames = st.one_of(
    messages,
    st.binary(max_size=40).map(lambda tail: TextBytes(b'{"type": "ping", "x": "\xff' + tail)),
    messages.map(lambda text: text[: len(text) // 2]),  # truncated JSON
    st.text(max_size=300),
    st.binary(max_size=300),
    st.sampled_from(['{"type": "ping", "data": NaN}', "null", "[]", '{"type": 1}', "{" * 600, "\u0000"]),
)


def exchange(client: WsClient, batch: list[str | bytes]) -> None:
    """Send the frames, then prove the socket still answers (or was closed with a documented code)."""
    try:
        for frame in batch:
            if isinstance(frame, TextBytes):
                client.ws.send(bytes(frame), opcode=1)
            else:
                client.send_raw(frame)
        client.send("ping")
        client.expect_type("pong", timeout=10)
    except Closed as closed:
        assert closed.args[0] in {4400, 4413, 4429, 1007}, closed.args
        if closed.args[0] == 1007:
            assert client.errors()[-1]["code"] == 1007  # the error always comes first


@pytest.fixture
def fuzz_server(servers: Callable[..., WebServer]) -> WebServer:
    return servers(WEBSOCKET_RATE_LIMIT_MESSAGES_PER_MINUTE=100_000, WEBSOCKET_MAX_SUBSCRIPTIONS_PER_CONNECTION=200)


def test_random_frames(fuzz_server: WebServer, seed: Seed, cluster: ClusterState) -> None:
    opened: list[WsClient] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(frames, min_size=1, max_size=8))
    def one_socket(batch: list[str | bytes]) -> None:
        client = WsClient(fuzz_server.ws_url, token=seed.alice_token)
        opened.append(client)
        try:
            connected(client)
            exchange(client, batch)
        finally:
            client.close()

    baseline = _baseline(fuzz_server, seed, cluster)
    one_socket()
    assert fuzz_server.alive() and len(opened) >= 30, len(opened)
    stats = wait_quiet(cluster, connections=0, timeout=30)
    assert stats[0]["greenlets"] <= baseline["greenlets"], stats
    log = fuzz_server.log()
    assert "message handling failed" not in log and "realtime task failed" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def _baseline(server: WebServer, seed: Seed, cluster: ClusterState) -> dict[str, Any]:
    """Stats after one clean socket: the relay and its helpers are running, nothing per-socket is left."""
    client = WsClient(server.ws_url, token=seed.alice_token)
    connected(client)
    client.close()
    return wait_quiet(cluster, connections=0)[0]
