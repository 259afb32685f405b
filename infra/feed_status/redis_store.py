"""The feed status in Redis: every web process, worker and CLI reads and writes the same keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from infra.feed_status.base import (
    CYCLE_TTL_SECONDS,
    REQUEST_WINDOW_SECONDS,
    SOURCES_TTL_SECONDS,
    FeedStatusStore,
    encode_source_stats,
    failure_entries,
    process_name,
    text,
)

# Count a batch attempt; on its first final attempt mark it done; return the cycle when all are done.
_FINISH_BATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
redis.call('HINCRBY', KEYS[1], 'successes', ARGV[1])
if ARGV[3] ~= '1' or redis.call('SADD', KEYS[2], ARGV[4]) == 0 then return nil end
redis.call('HINCRBY', KEYS[1], 'failures', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if redis.call('SCARD', KEYS[2]) ~= tonumber(redis.call('HGET', KEYS[1], 'batches')) then return nil end
return redis.call('HGETALL', KEYS[1])
"""


class RedisFeedStatusStore(FeedStatusStore):
    """The feed status under `<prefix>:feed:` in Redis."""

    def __init__(self, client: redis.Redis, prefix: str = "pricewire") -> None:
        super().__init__(prefix)
        self.client: redis.Redis = client
        self.key = f"{prefix}:feed:status"
        self.requested_key = f"{prefix}:feed:requested"
        self.failed_key = f"{prefix}:feed:failed"
        self.sources_key = f"{prefix}:feed:sources"
        self._finish_script = client.register_script(_FINISH_BATCH)

    def write(self, **fields: Any) -> None:
        """Merge these fields (JSON-encoded) into the status hash."""
        encoded: dict[Any, Any] = {name: json.dumps(value, default=str) for name, value in fields.items()}
        self.client.hset(self.key, mapping=encoded)

    def incr(self, field: str, amount: int = 1) -> int:
        """Add to a counter field atomically."""
        return int(self.client.hincrby(self.key, field, amount))

    def _raw_status(self) -> Mapping[Any, Any]:
        return self.client.hgetall(self.key)

    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track these symbols for the next REQUEST_WINDOW_SECONDS."""
        now = time.time()
        wanted = {symbol: now for symbol in dict.fromkeys(symbols)}
        if wanted:
            self.client.zadd(self.requested_key, wanted)
        return len(wanted)

    def requested_symbols(self) -> list[str]:
        """Symbols requested within the window; older entries are dropped."""
        cutoff = time.time() - REQUEST_WINDOW_SECONDS
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self.requested_key, "-inf", f"({cutoff}")
        pipe.zrange(self.requested_key, 0, -1)
        return sorted(text(item) for item in pipe.execute()[1])

    def record_results(self, succeeded: Iterable[str], failed: Mapping[str, str]) -> None:
        """Forget the failures of `succeeded`; remember `failed`."""
        ok = list(succeeded)
        found: list[Any] = self.client.hmget(self.failed_key, list(failed)) if failed else []
        previous = dict(zip(failed, found, strict=True))
        pipe = self.client.pipeline()
        if ok:
            pipe.hdel(self.failed_key, *ok)
        if failed:
            pipe.hset(self.failed_key, mapping=failure_entries(failed, previous, time.time()))  # type: ignore[arg-type]
        pipe.execute()

    def _raw_failures(self) -> Mapping[Any, Any]:
        return self.client.hgetall(self.failed_key)

    def _forget_failures(self, symbols: list[str]) -> None:
        self.client.hdel(self.failed_key, *symbols)

    def record_source_stats(self, stats: Mapping[str, Mapping[str, Any]]) -> None:
        """Store this process's cumulative per-source counters (they expire with their process)."""
        pipe = self.client.pipeline()
        pipe.hset(self.sources_key, process_name(), encode_source_stats(stats))
        pipe.expire(self.sources_key, SOURCES_TTL_SECONDS)
        pipe.execute()

    def _raw_sources(self) -> Mapping[Any, Any]:
        return self.client.hgetall(self.sources_key)

    def start_cycle(self, cycle_id: str, batches: int, symbols: int) -> None:
        """Open the latch of a cycle of `batches` batches (it expires after CYCLE_TTL_SECONDS)."""
        fields: dict[Any, Any] = {"started_at": time.time(), "batches": batches, "symbols": symbols,
                                  "successes": 0, "failures": 0}
        key = f"{self.prefix}:feed:cycle:{cycle_id}"
        pipe = self.client.pipeline()
        pipe.hset(key, mapping=fields)
        pipe.expire(key, CYCLE_TTL_SECONDS)
        pipe.execute()

    def _finish(self, cycle_id: str, batch_no: int, successes: int, failures: int,
                final: bool) -> Mapping[str, Any] | None:
        key = f"{self.prefix}:feed:cycle:{cycle_id}"
        raw = self._finish_script(keys=[key, f"{key}:done"],
                                  args=[successes, failures, int(final), batch_no, CYCLE_TTL_SECONDS])
        if not raw:
            return None
        return {text(k): text(v) for k, v in zip(raw[::2], raw[1::2], strict=True)}

    def set_flag(self, name: str, on: bool) -> bool:
        """Set a flag atomically (SET GET); True when this call changed it."""
        previous: Any = self.client.set(f"{self.prefix}:feed:flag:{name}", "1" if on else "0", get=True)
        return (previous is not None and text(previous) == "1") != on

    def flag(self, name: str) -> bool:
        """The current value of a flag."""
        value: Any = self.client.get(f"{self.prefix}:feed:flag:{name}")
        return value is not None and text(value) == "1"
