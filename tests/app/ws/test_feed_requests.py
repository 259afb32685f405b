"""A subscribed symbol is asked of the price feed, so it is tracked even when nobody holds it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from infra.feed_status import RedisFeedStatusStore
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import Seed, connected, subscribe_and_wait
from tests.support.processes import WebServer
from tests.support.services import wait_for

pytestmark = pytest.mark.integration


def test_subscribing_requests_the_symbol_from_the_feed(web: WebServer, seed: Seed, clients: Callable[..., WsClient],
                                                       redis_server_url: str, redis_prefix: str) -> None:
    store = RedisFeedStatusStore(redis.Redis.from_url(redis_server_url), redis_prefix)
    assert "ZZTOP" not in store.requested_symbols()
    client = clients(web.ws_url, token=seed.alice_token)
    connected(client)

    subscribe_and_wait(client, "ZZTOP")

    wait_for(lambda: "ZZTOP" in store.requested_symbols(), timeout=10, message="the feed request")
