"""ClusterState on real Redis: a process's stats hash is replaced whole, even when written in chunks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.realtime.cluster import WRITE_CHUNK_FIELDS, ClusterState

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(redis_server_url: str, redis_prefix: str) -> Iterator[ClusterState]:
    state = ClusterState(redis_server_url, redis_prefix)
    yield state
    keys = list(state.client.scan_iter(f"{redis_prefix}:*"))
    if keys:
        state.client.delete(*keys)


def test_many_users_are_written_in_chunks_and_replace_the_hash_whole(cluster: ClusterState) -> None:
    users = {user_id: [{"connection_id": f"c{user_id}"}] for user_id in range(WRITE_CHUNK_FIELDS * 2 + 50)}
    cluster.write_process("host:1", {"connections": len(users)}, users)
    key = cluster.process_key("host:1")
    assert cluster.client.hlen(key) == len(users) + 1  # every user and the summary
    assert not cluster.client.exists(f"{key}:next")  # the staging key was renamed away
    assert cluster.summaries() == [{"connections": len(users)}]
    cluster.write_process("host:1", {"connections": 1}, {7: '[{"connection_id": "c7"}]'})  # JSON given as is
    assert cluster.client.hkeys(key) and sorted(cluster.client.hkeys(key)) == [b"summary", b"u:7"]
    assert 0 < cluster.client.ttl(key) <= 15


def test_slots_reserved_and_released_in_one_pipeline_count_like_one_at_a_time(cluster: ClusterState) -> None:
    # User 1 may have 2 sockets: its third in the same batch is refused; user 2's own limit is separate.
    wanted = [(1, "a", 2), (2, "x", 1), (1, "b", 2), (1, "c", 2), (2, "y", 1)]

    assert cluster.reserve_slots(wanted) == {(1, "a", 2): True, (2, "x", 1): True, (1, "b", 2): True,
                                             (1, "c", 2): False, (2, "y", 1): False}
    assert not cluster.reserve_slot(1, "d", 2)  # the batch's slots count for single reservations too

    cluster.release_slots([(1, "a"), (2, "x")])
    assert cluster.reserve_slots([(1, "d", 2), (2, "y", 1)]) == {(1, "d", 2): True, (2, "y", 1): True}
    assert cluster.reserve_slots([]) == {}
