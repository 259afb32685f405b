"""The fault tests' SeqClient keeps every update it reads, also those that come while it (re)subscribes.

No services: a scripted socket plays the server. A feed batch published while a reconnecting client was still
waiting for its later acks used to be read and dropped, so the client stayed a seq behind the database.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

import tests.faults.conftest as fault_conftest
from cli.demo import DEMO_SYMBOLS
from protocol.channels import asset_channel
from tests.app.ws.client import Closed, Message, WsClient
from tests.faults.conftest import SeqClient


def update(symbol: str, seq: int) -> Message:
    return {"type": "asset_update", "data": {"symbol": symbol, "seq": seq}}


class ScriptedServer:
    """Acks each subscribe; `before_ack[symbol]` are messages sent just before that symbol's ack."""

    def __init__(self) -> None:
        self.before_ack: dict[str, list[Message]] = {}
        self.subscribes: list[dict[str, Any]] = []
        self.sockets: list[ScriptedSocket] = []


class ScriptedSocket(WsClient):
    """WsClient's reading helpers (expect, expect_type) over scripted frames instead of a network socket."""

    server: ScriptedServer

    def __init__(self, url: str, *, token: str | None = None) -> None:  # no network: the script answers
        self.messages: list[Message] = []
        self.close_code: int | None = None
        self.close_reason = ""
        self.inbox: deque[Message] = deque([{"type": "connection", "data": {}}])
        self.closed_by_client = False
        self.server.sockets.append(self)

    def send(self, kind: str, data: dict[str, Any] | None = None) -> None:
        assert kind == "subscribe_asset" and data is not None
        self.server.subscribes.append(data)
        self.inbox.extend(self.server.before_ack.pop(data["symbol"], []))
        self.inbox.append({"type": "subscribed", "data": {"channel": asset_channel(data["symbol"])}})

    def receive(self, timeout: float) -> Message | None:
        if self.close_code is not None:
            raise Closed(self.close_code)
        if not self.inbox:
            return None
        message = self.inbox.popleft()
        if message["type"] == "close":
            self.close_code = int(message["data"]["code"])
            raise Closed(self.close_code)
        self.messages.append(message)
        return message

    def close(self) -> None:
        self.closed_by_client = True


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    scripted = ScriptedServer()
    monkeypatch.setattr(ScriptedSocket, "server", scripted, raising=False)
    monkeypatch.setattr(fault_conftest, "WsClient", ScriptedSocket)
    return scripted


def test_updates_arriving_before_a_later_ack_are_kept(server: ScriptedServer) -> None:
    first, second, last = DEMO_SYMBOLS[0], DEMO_SYMBOLS[1], DEMO_SYMBOLS[-1]
    # The first symbol's snapshot comes before the second's ack; a live batch lands before the last ack.
    server.before_ack[second] = [update(first, 3)]
    server.before_ack[last] = [update(first, 4), update(second, 4)]
    client = SeqClient("ws://scripted", "token")
    assert client.seqs[first] == [3, 4]
    assert client.seqs[second] == [4]


def test_a_resubscribe_keeps_the_batch_published_meanwhile_and_resumes_from_it(server: ScriptedServer) -> None:
    client = SeqClient("ws://scripted", "token")
    for symbol in DEMO_SYMBOLS:
        client.seqs[symbol].append(4)
    server.sockets[-1].inbox.append({"type": "close", "data": {"code": 1001}})
    # The reconnect: batch 5 is published (and delivered live) while the later symbols are still resubscribing.
    server.before_ack[DEMO_SYMBOLS[-1]] = [update(symbol, 5) for symbol in DEMO_SYMBOLS[:-1]]
    client.pump(0)
    assert client.closes == [1001]
    assert server.sockets[0].closed_by_client
    server.sockets[-1].inbox.append(update(DEMO_SYMBOLS[-1], 5))  # the last symbol's, after its ack
    client.pump(0)
    assert client.last() == dict.fromkeys(DEMO_SYMBOLS, 5)
    resumed = server.subscribes[len(DEMO_SYMBOLS):]
    assert [data["last_seq"] for data in resumed] == [4] * len(DEMO_SYMBOLS)
