"""Redis locks for the feed: one cycle per interval, one active beat, and completed-task markers.

Without Redis (embedded mode, one process) the same interfaces are kept in memory.
"""

from __future__ import annotations

import threading
import time
import uuid

import redis

from infra.feed_status import FeedStatusStore

# Fraction of the interval the cycle lock lives: long enough that a duplicate cycle in the same
# interval (a second beat, a backlog) finds it held, short enough that the next one finds it free.
CYCLE_LOCK_FRACTION = 0.8


class ExpiringLock:
    """A non-blocking lock that frees itself after `ttl` seconds (Redis SET NX PX, or in memory).

    In memory, holders live in `registry` (key -> (token, expiry)): one per status store, i.e. per app.
    """

    _local_guard = threading.Lock()

    def __init__(self, client: redis.Redis | None, key: str, ttl: float,
                 registry: dict[str, tuple[str, float]] | None = None) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = max(1, int(ttl * 1000))
        self.token = uuid.uuid4().hex
        self._local: dict[str, tuple[str, float]] = {} if registry is None else registry

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; True when taken."""
        if self.client is not None:
            return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        now = time.monotonic()
        with self._local_guard:
            holder = self._local.get(self.key)
            if holder is not None and holder[1] > now and holder[0] != self.token:
                return False
            self._local[self.key] = (self.token, now + self.ttl_ms / 1000)
            return True

    def renew(self) -> bool:
        """Extend the lock if we still hold it (or take it if it is free); False if someone else has it."""
        if self.client is None:
            return self.acquire()
        # Compare-and-extend in one step, so a lock taken over by another holder is never extended.
        script = ("local v = redis.call('GET', KEYS[1]) "
                  "if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
                  "if not v then return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1 end "
                  "return 0")
        return bool(self.client.eval(script, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        """Free the lock if we still hold it."""
        if self.client is None:
            with self._local_guard:
                if self._local.get(self.key, ("", 0.0))[0] == self.token:
                    del self._local[self.key]
            return
        script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
        self.client.eval(script, 1, self.key, self.token)


def cycle_lock(store: FeedStatusStore, interval: float) -> ExpiringLock:
    """The lock a cycle takes and keeps until it expires (below one interval): at most one cycle per interval."""
    ttl = max(0.5, interval * CYCLE_LOCK_FRACTION)
    return ExpiringLock(store.client, f"{store.prefix}:feed:cycle-lock", ttl, store.local_locks)


def beat_lease(store: FeedStatusStore, ttl: float) -> ExpiringLock:
    """The lease the active beat renews with its heartbeat; a second beat waits for it."""
    return ExpiringLock(store.client, f"{store.prefix}:feed:beat-lease", ttl, store.local_locks)


class CompletedTasks:
    """Markers of batch deliveries that finished, so a redelivered copy of one is skipped."""

    def __init__(self, client: redis.Redis | None, prefix: str, ttl: float) -> None:
        self.client = client
        self.prefix = f"{prefix}:feed:done:"
        self.ttl = max(1, int(ttl))
        self._local: set[str] = set()

    def seen(self, task_id: str | None) -> bool:
        """True when this task id already completed."""
        if not task_id:
            return False
        if self.client is None:
            return task_id in self._local
        return bool(self.client.exists(self.prefix + task_id))

    def mark(self, task_id: str | None) -> None:
        """Remember that this task id completed."""
        if not task_id:
            return
        if self.client is None:
            self._local.add(task_id)
        else:
            self.client.set(self.prefix + task_id, "1", ex=self.ttl)
