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
