"""The feed's locks on the real Redis and in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from infra.feed_status import MemoryFeedStatusStore, feed_status_store
from tasks.locks import CompletedTasks, ExpiringLock, beat_lease, cycle_lock


@pytest.fixture(params=["redis", "memory"])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis | None]:
    if request.param == "memory":
        yield None
        return
    connection = redis.Redis.from_url(request.getfixturevalue("redis_server_url"))
    prefix = request.getfixturevalue("redis_prefix")
    yield connection
    keys = list(connection.scan_iter(match=f"{prefix}:*"))
    if keys:
        connection.delete(*keys)
    connection.close()


def test_one_cycle_per_interval(client: redis.Redis | None, redis_prefix: str) -> None:
    store = feed_status_store(client, redis_prefix)
    first, second = cycle_lock(store, 30), cycle_lock(store, 30)

    assert first.acquire() and not second.acquire()
    first.release()
    assert second.acquire()


def test_the_cycle_lock_expires_within_one_interval(redis_server_url: str, redis_prefix: str) -> None:
    connection = redis.Redis.from_url(redis_server_url)
    lock = cycle_lock(feed_status_store(connection, redis_prefix), 30)
    try:
        assert lock.acquire()
        assert 0 < connection.pttl(lock.key) < 30_000
    finally:
        connection.delete(lock.key)


def test_a_lease_is_renewed_only_by_its_holder(client: redis.Redis | None, redis_prefix: str) -> None:
    store = feed_status_store(client, redis_prefix)
    active, standby = beat_lease(store, 15), beat_lease(store, 15)

    assert active.acquire() and active.renew()
    assert not standby.acquire() and not standby.renew()
    active.release()
    assert standby.renew()  # free again: the standby takes over


def test_release_never_frees_someone_elses_lock(client: redis.Redis | None, redis_prefix: str) -> None:
    registry: dict[str, tuple[str, float]] = {}
    mine = ExpiringLock(client, f"{redis_prefix}:l", 10, registry)
    theirs = ExpiringLock(client, f"{redis_prefix}:l", 10, registry)
    assert mine.acquire()
    theirs.release()
    assert not theirs.acquire()


def test_in_memory_locks_are_per_app() -> None:
    one, other = MemoryFeedStatusStore("pricewire"), MemoryFeedStatusStore("pricewire")
    assert cycle_lock(one, 30).acquire() and cycle_lock(other, 30).acquire()
    assert not cycle_lock(one, 30).acquire()


def test_completed_deliveries_are_remembered(client: redis.Redis | None, redis_prefix: str) -> None:
    done = CompletedTasks(client, redis_prefix, ttl=60)
    assert not done.seen("task-1")
    done.mark("task-1")
    assert done.seen("task-1") and not done.seen("task-2") and not done.seen(None)
