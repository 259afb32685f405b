"""State shared by all web processes in Redis: per-process stats (TTL heartbeats) and per-user socket slots."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from infra.redis_connect import redis_client

# Keys: <prefix>:ws:process:<host>:<pid> (hash: "summary" + one "u:<user_id>" field per user, with a TTL),
# <prefix>:ws:processes (set of those keys), <prefix>:ws:user:<id>:slots (zset connection_id -> expiry).
PROCESS_TTL_SECONDS = 15
STATS_PERIOD_SECONDS = 5
WRITE_CHUNK_FIELDS = 200

# Expired members are pruned, then the connection takes a slot if fewer than the limit are held.
_RESERVE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""
_REFRESH = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], t + tonumber(ARGV[1]), ARGV[i]) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 1
"""


class ClusterState:
    """Reads and writes the shared keys; every call has a socket timeout so a silent Redis cannot hang us."""

    def __init__(self, url: str, prefix: str, timeout: float = 2.0) -> None:
        self.client = redis_client(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix
        self.registry = f"{prefix}:ws:processes"
        self._reserve = self.client.register_script(_RESERVE)
        self._refresh = self.client.register_script(_REFRESH)

    def process_key(self, instance: str) -> str:
        """The stats key of one web process."""
        return f"{self.prefix}:ws:process:{instance}"

    def slots_key(self, user_id: int) -> str:
        """The connection slots of one user."""
        return f"{self.prefix}:ws:user:{user_id}:slots"

    # ---- writers (web processes) -----------------------------------------------------------------

    def write_process(self, instance: str, summary: Mapping[str, Any],
                      users: Mapping[int, list[dict[str, Any]] | str], ttl: int = PROCESS_TTL_SECONDS) -> None:
        """Replace this process's stats atomically and extend its life by `ttl` seconds (users' lists or their JSON).

        Thousands of users are written to a staging key in chunks (each a round trip, so other greenlets
        run in between), then renamed over the live key: readers never see half a hash.
        """
        key = self.process_key(instance)
        staging = f"{key}:next"
        fields = [("summary", json.dumps(summary))]
        fields += [(f"u:{user_id}", items if isinstance(items, str) else json.dumps(items))
                   for user_id, items in users.items()]
        self.client.delete(staging)
        for start in range(0, len(fields), WRITE_CHUNK_FIELDS):
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(staging, mapping=dict(fields[start:start + WRITE_CHUNK_FIELDS]))
            pipe.expire(staging, ttl)  # a process that dies mid-write leaves nothing behind for long
            pipe.execute()
        pipe = self.client.pipeline(transaction=True)
        pipe.rename(staging, key)
        pipe.expire(key, ttl)
        pipe.sadd(self.registry, key)
        pipe.execute()

    def update_process(self, instance: str, summary: Mapping[str, Any],
                       users: Mapping[int, list[dict[str, Any]]], ttl: int = PROCESS_TTL_SECONDS) -> None:
        """Replace the summary and these users' fields (an empty list removes the user)."""
        key = self.process_key(instance)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, "summary", json.dumps(summary))
        gone = [f"u:{user_id}" for user_id, items in users.items() if not items]
        present = {f"u:{user_id}": json.dumps(items) for user_id, items in users.items() if items}
        if gone:
            pipe.hdel(key, *gone)
        if present:
            pipe.hset(key, mapping=present)  # type: ignore[arg-type]
        pipe.expire(key, ttl)
        pipe.sadd(self.registry, key)
        pipe.execute()

    def remove_process(self, instance: str) -> None:
        """Forget this process (clean shutdown)."""
        key = self.process_key(instance)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.srem(self.registry, key)
        pipe.execute()

    def reserve_slot(self, user_id: int, connection_id: str, limit: int, ttl: int = PROCESS_TTL_SECONDS) -> bool:
        """Take one of the user's `limit` connection slots, cluster-wide; False when all are taken."""
        return bool(self._reserve(keys=[self.slots_key(user_id)], args=[limit, ttl, connection_id]))

    def reserve_slots(self, wanted: list[tuple[int, str, int]],
                      ttl: int = PROCESS_TTL_SECONDS) -> dict[tuple[int, str, int], bool]:
        """reserve_slot() for many sockets (user, connection, limit) in one pipeline, in order."""
        pipe = self.client.pipeline(transaction=False)
        for user_id, connection_id, limit in wanted:
            self._reserve(keys=[self.slots_key(user_id)], args=[limit, ttl, connection_id], client=pipe)
        return {key: bool(taken) for key, taken in zip(wanted, pipe.execute(), strict=True)}

    def release_slots(self, slots: list[tuple[int, str]]) -> None:
        """release_slot() for many sockets (user, connection) in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        for user_id, connection_id in slots:
            pipe.zrem(self.slots_key(user_id), connection_id)
        pipe.execute()

    def refresh_slots(self, slots: Mapping[int, Iterable[str]], ttl: int = PROCESS_TTL_SECONDS) -> None:
        """Keep the slots of live connections from expiring (and restore them after a Redis restart).

        One pipeline per WRITE_CHUNK_FIELDS users, a round trip each, so other greenlets run in between.
        """
        users = [(user_id, list(connection_ids)) for user_id, connection_ids in slots.items()]
        for start in range(0, len(users), WRITE_CHUNK_FIELDS):
            pipe = self.client.pipeline(transaction=False)
            for user_id, ids in users[start:start + WRITE_CHUNK_FIELDS]:
                if ids:
                    self._refresh(keys=[self.slots_key(user_id)], args=[ttl, *ids], client=pipe)
            pipe.execute()

    def release_slot(self, user_id: int, connection_id: str) -> None:
        """Give a slot back when its socket ends."""
        self.client.zrem(self.slots_key(user_id), connection_id)

    # ---- readers (any process) -------------------------------------------------------------------

    def _live_keys(self) -> list[str]:
        return sorted(_text(key) for key in self.client.smembers(self.registry))

    def summaries(self) -> list[dict[str, Any]]:
        """The summary of every live web process (dead ones are pruned from the registry)."""
        keys = self._live_keys()
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "summary")
        result, dead = [], []
        for key, raw in zip(keys, pipe.execute(), strict=True):
            if raw is None:
                dead.append(key)
            else:
                result.append(json.loads(raw))
        if dead:
            self.client.srem(self.registry, *dead)
        return result

    def user_ids(self) -> set[int]:
        """Users with at least one socket anywhere."""
        keys = self._live_keys()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hkeys(key)
        ids: set[int] = set()
        for fields in pipe.execute() if keys else []:
            ids.update(int(_text(name)[2:]) for name in fields if _text(name).startswith("u:"))
        return ids

    def user_connections(self, user_id: int) -> list[dict[str, Any]]:
        """Every socket of one user, across processes."""
        keys = self._live_keys()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, f"u:{user_id}")
        items: list[dict[str, Any]] = []
        for raw in pipe.execute() if keys else []:
            if raw is not None:
                items.extend(json.loads(raw))
        return sorted(items, key=lambda item: (item.get("connected_at") or "", item.get("connection_id") or ""))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
