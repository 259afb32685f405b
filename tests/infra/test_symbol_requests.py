"""SymbolRequests: per-user and global caps on feed requests, negative caching, in Redis and in-process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from infra.symbol_requests import SymbolRequests


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[SymbolRequests]:
    if request.param == "memory":
        yield SymbolRequests(None, "t")
        return
    url = request.getfixturevalue("redis_server_url")
    prefix = request.getfixturevalue("redis_prefix")
    client = redis.Redis.from_url(url)
    yield SymbolRequests(client, prefix)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_user_may_add_at_most_the_cap_and_repeats_are_free(store: SymbolRequests) -> None:
    accepted, refused = store.admit(1, ["A", "B", "C"], per_user=2, global_cap=100)
    assert (accepted, refused) == (["A", "B"], 1)
    accepted, refused = store.admit(1, ["A", "B", "D"], per_user=2, global_cap=100)
    assert (accepted, refused) == (["A", "B"], 1)  # asking again for A and B costs nothing
    assert store.admit(2, ["C", "D"], per_user=2, global_cap=100) == (["C", "D"], 0)  # users are separate


def test_the_global_cap_holds_across_users(store: SymbolRequests) -> None:
    if store.client is not None:  # the global count is the feed's requested set
        store.client.zadd(store.requested_key, dict.fromkeys(["X1", "X2"], time.time()))
    else:
        store.admit(9, ["X1", "X2"], per_user=10, global_cap=10)
    assert store.admit(1, ["A", "B"], per_user=10, global_cap=3) == (["A"], 1)


def test_requests_expire_after_the_window() -> None:
    store = SymbolRequests(None, "t", window=-1)  # everything is already outside the window
    store.admit(1, ["A", "B"], per_user=2, global_cap=10)
    assert store.admit(1, ["C", "D"], per_user=2, global_cap=10) == (["C", "D"], 0)


def test_unknown_symbols_are_remembered_until_they_expire(store: SymbolRequests) -> None:
    assert store.unknown(["FAKE", "REAL"]) == set()
    store.remember_unknown(["FAKE"])
    assert store.unknown(["FAKE", "REAL"]) == {"FAKE"}
    store.remember_unknown(["OLD"], ttl=-1)
    assert store.unknown(["OLD"]) == set()
