"""Helpers for tests that kill Redis under live sockets: keep reading while waiting, publish until heard."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis

from infra.bus import BusError, RedisBus
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import publish_asset
from tests.support.services import wait_for


def reading(clients: Sequence[WsClient], predicate: Callable[[], Any]) -> Callable[[], Any]:
    """`predicate`, after reading what the sockets have (so the clients keep answering the server's pings)."""

    def read_then_check() -> Any:
        for client in clients:
            client.receive(0.02)
        return predicate()

    return read_then_check


def publish_until_heard(bus: RedisBus, clients: Sequence[WsClient], symbol: str, seq: int, *, listeners: int = 1,
                        timeout: float = 60) -> int:
    """Publish increasing seqs until `listeners` relays hear one (through whatever Redis there is now); that seq."""
    current = [seq]

    def heard() -> bool:
        try:
            if publish_asset(bus, symbol, current[0]) >= listeners:
                return True
        except (BusError, redis.RedisError):
            pass
        current[0] += 1
        return False

    wait_for(reading(clients, heard), timeout=timeout, interval=0.2, message=f"{listeners} relays on {symbol}")
    return current[0]


def received(client: WsClient, kind: str, **fields: Any) -> dict[str, Any]:
    """A message already read (while waiting) or the next one that matches."""
    for message in client.messages:
        if message["type"] == kind and all(message["data"].get(k) == v for k, v in fields.items()):
            return message
    return client.expect_type(kind, timeout=30, **fields)
