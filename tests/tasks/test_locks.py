"""The feed's locks on the real Redis and in memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

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
    first, second = cycle_lock(client, redis_prefix, 30), cycle_lock(client, redis_prefix, 30)

    assert first.acquire() and not second.acquire()
    first.release()
    assert second.acquire()


def test_the_cycle_lock_expires_within_one_interval(redis_server_url: str, redis_prefix: str) -> None:
    connection = redis.Redis.from_url(redis_server_url)
    lock = cycle_lock(connection, redis_prefix, 30)
    try:
        assert lock.acquire()
        assert 0 < connection.pttl(lock.key) < 30_000
    finally:
        connection.delete(lock.key)


def test_a_lease_is_renewed_only_by_its_holder(client: redis.Redis | None, redis_prefix: str) -> None:
    active, standby = beat_lease(client, redis_prefix, 15), beat_lease(client, redis_prefix, 15)

    assert active.acquire() and active.renew()
    assert not standby.acquire() and not standby.renew()
    active.release()
    assert standby.renew()  # free again: the standby takes over


def test_release_never_frees_someone_elses_lock(client: redis.Redis | None, redis_prefix: str) -> None:
    mine, theirs = ExpiringLock(client, f"{redis_prefix}:l", 10), ExpiringLock(client, f"{redis_prefix}:l", 10)
    assert mine.acquire()
    theirs.release()
    assert not theirs.acquire()


def test_completed_deliveries_are_remembered(client: redis.Redis | None, redis_prefix: str) -> None:
    done = CompletedTasks(client, redis_prefix, ttl=60)
    assert not done.seen("task-1")
    done.mark("task-1")
    assert done.seen("task-1") and not done.seen("task-2") and not done.seen(None)
