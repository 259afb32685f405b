"""Price-feed status readable from any process: Redis keys, or dicts in embedded mode.

Keys (all under `<REDIS_KEY_PREFIX>:feed:`): `status` (hash of JSON fields), `requested` (sorted set of
symbols subscribers or forced refreshes asked for, scored by request time), `failed` (hash symbol ->
JSON reason), `sources` (hash process -> JSON per-source counters), `cycle:<id>` and `cycle:<id>:done`
(the chord-free latch that tells the last batch of a cycle it was the last), `flag:<name>` (failover,
stale: so only the process that flips a flag announces it).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import redis
from flask import Flask, current_app

from models.redis_connect import redis_client

EXTENSION_KEY = "pricewire.feed_status"
# Symbols asked for by a subscriber, a forced refresh or a failed one-off update are tracked this long.
REQUEST_WINDOW_SECONDS = 600
# Per-process source counters and cycle latches outlive their writers by this much, then vanish.
SOURCES_TTL_SECONDS = 86_400
CYCLE_TTL_SECONDS = 3_600

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


# Counter field: portfolios whose revaluation failed and was skipped (tasks.portfolio_tracker).
REVALUATION_FAILURES = "portfolio_revaluation_failures"


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FeedStatusStore:
    """Where the feed records its heartbeat, cycles, failures and requests; anyone reads them."""

    def __init__(self, client: redis.Redis | None, prefix: str = "pricewire") -> None:
        self.client = client
        self.prefix = prefix
        self.key = f"{prefix}:feed:status"
        self.requested_key = f"{prefix}:feed:requested"
        self.failed_key = f"{prefix}:feed:failed"
        self.sources_key = f"{prefix}:feed:sources"
        self._local: dict[str, str] = {}
        self._requested: dict[str, float] = {}
        self._failed: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._cycles: dict[str, dict[str, Any]] = {}
        self._flags: dict[str, bool] = {}
        self.local_locks: dict[str, tuple[str, float]] = {}  # tasks.locks keeps in-memory locks here
        self._lock = threading.Lock()
        self._finish_script = client.register_script(_FINISH_BATCH) if client is not None else None

    # -- plain fields ----------------------------------------------------------------------------
    def write(self, **fields: Any) -> None:
        """Merge these fields (JSON-encoded) into the status."""
        encoded: dict[Any, Any] = {name: json.dumps(value, default=str) for name, value in fields.items()}
        if self.client is None:
            self._local.update(encoded)
        else:
            self.client.hset(self.key, mapping=encoded)

    def incr(self, field: str, amount: int = 1) -> int:
        """Add to a counter field (a JSON integer, so `read` decodes it)."""
        if self.client is not None:
            return int(self.client.hincrby(self.key, field, amount))
        with self._lock:
            value = int(self._local.get(field, "0")) + amount
            self._local[field] = str(value)
            return value

    def heartbeat(self) -> None:
        """Say the scheduler is alive now."""
        self.write(heartbeat_at=time.time())

    def read(self) -> dict[str, Any]:
        """Every recorded field, decoded."""
        raw: dict[Any, Any] = dict(self._local) if self.client is None else self.client.hgetall(self.key)
        return {_text(name): json.loads(_text(value)) for name, value in raw.items()}

    # -- symbols asked for ---------------------------------------------------------------------------
    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track these symbols for the next REQUEST_WINDOW_SECONDS (a later request extends it)."""
        now = time.time()
        wanted = {symbol: now for symbol in dict.fromkeys(symbols)}
        if not wanted:
            return 0
        if self.client is None:
            with self._lock:
                self._requested.update(wanted)
        else:
            self.client.zadd(self.requested_key, wanted)
        return len(wanted)

    def requested_symbols(self) -> list[str]:
        """Symbols requested within the window; older entries are dropped."""
        cutoff = time.time() - REQUEST_WINDOW_SECONDS
        if self.client is None:
            with self._lock:
                self._requested = {s: at for s, at in self._requested.items() if at >= cutoff}
                return sorted(self._requested)
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(self.requested_key, "-inf", f"({cutoff}")
        pipe.zrange(self.requested_key, 0, -1)
        return sorted(_text(item) for item in pipe.execute()[1])

    # -- failed symbols ------------------------------------------------------------------------------
    def record_results(self, succeeded: Iterable[str], failed: Mapping[str, str]) -> None:
        """Forget the failures of `succeeded`; remember `failed` (symbol -> reason) with since/at times."""
        ok = list(succeeded)
        now = time.time()
        if self.client is None:
            with self._lock:
                previous = {s: self._failed.get(s) for s in failed}
                for symbol in ok:
                    self._failed.pop(symbol, None)
                self._failed.update(_failure_entries(failed, previous, now))
            return
        found: list[Any] = self.client.hmget(self.failed_key, list(failed)) if failed else []
        previous = dict(zip(failed, found, strict=True))
        pipe = self.client.pipeline()
        if ok:
            pipe.hdel(self.failed_key, *ok)
        if failed:
            pipe.hset(self.failed_key, mapping=_failure_entries(failed, previous, now))
        pipe.execute()

    def failed_updates(self) -> dict[str, dict[str, Any]]:
        """Symbol -> {"error", "since", "at"} of every symbol whose last update failed in every source."""
        raw: Mapping[Any, Any] = dict(self._failed) if self.client is None else self.client.hgetall(self.failed_key)
        return {_text(symbol): json.loads(_text(value)) for symbol, value in raw.items()}

    def retryable_failures(self) -> list[str]:
        """Failed symbols still worth retrying (first failure within the window); stale entries are purged."""
        now = time.time()
        failures = self.failed_updates()
        expired = [s for s, info in failures.items() if now - float(info.get("at", 0)) > REQUEST_WINDOW_SECONDS]
        if expired:
            if self.client is None:
                with self._lock:
                    for symbol in expired:
                        self._failed.pop(symbol, None)
            else:
                self.client.hdel(self.failed_key, *expired)
        return sorted(s for s, info in failures.items() if now - float(info.get("since", 0)) <= REQUEST_WINDOW_SECONDS)

    # -- per-source counters -------------------------------------------------------------------------
    def record_source_stats(self, stats: Mapping[str, Mapping[str, Any]]) -> None:
        """Store this process's cumulative per-source counters (summed over processes on read)."""
        process = f"{socket.gethostname()}:{os.getpid()}"
        encoded = json.dumps({name: {"successes": s.get("successes", 0), "failures": s.get("failures", 0),
                                     "state": s.get("state")} for name, s in stats.items()})
        if self.client is None:
            self._sources[process] = encoded
            return
        pipe = self.client.pipeline()
        pipe.hset(self.sources_key, process, encoded)
        pipe.expire(self.sources_key, SOURCES_TTL_SECONDS)
        pipe.execute()

    def source_totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(successes by source, failures by source) over every process."""
        raw: Mapping[Any, Any] = dict(self._sources) if self.client is None else self.client.hgetall(self.sources_key)
        successes: dict[str, int] = {}
        failures: dict[str, int] = {}
        for value in raw.values():
            for name, counts in json.loads(_text(value)).items():
                successes[name] = successes.get(name, 0) + int(counts.get("successes") or 0)
                failures[name] = failures.get(name, 0) + int(counts.get("failures") or 0)
        return successes, failures

    # -- cycles --------------------------------------------------------------------------------------
    def start_cycle(self, cycle_id: str, batches: int, symbols: int) -> None:
        """Open the latch of a cycle of `batches` batches."""
        fields: dict[Any, Any] = {"started_at": time.time(), "batches": batches, "symbols": symbols,
                                  "successes": 0, "failures": 0}
        if self.client is None:
            with self._lock:
                self._cycles[cycle_id] = {**fields, "done": set()}
            return
        key = f"{self.prefix}:feed:cycle:{cycle_id}"
        pipe = self.client.pipeline()
        pipe.hset(key, mapping=fields)
        pipe.expire(key, CYCLE_TTL_SECONDS)
        pipe.execute()

    def finish_batch(self, cycle_id: str, batch_no: int, successes: int, failures: int,
                     final: bool = True) -> dict[str, Any] | None:
        """Count a batch attempt; the summary of the cycle when this final attempt completed it, else None.

        Idempotent per batch number: a redelivered batch does not complete its cycle twice.
        """
        now = time.time()
        if self.client is None:
            with self._lock:
                cycle = self._cycles.get(cycle_id)
                if cycle is None:
                    return None
                cycle["successes"] += successes
                added = final and batch_no not in cycle["done"]
                if added:
                    cycle["failures"] += failures
                    cycle["done"].add(batch_no)
                done, fields = len(cycle["done"]), dict(cycle)
        else:
            key = f"{self.prefix}:feed:cycle:{cycle_id}"
            assert self._finish_script is not None
            raw = self._finish_script(keys=[key, f"{key}:done"],
                                      args=[successes, failures, int(final), batch_no, CYCLE_TTL_SECONDS])
            if not raw:
                return None
            fields = {_text(k): _text(v) for k, v in zip(raw[::2], raw[1::2], strict=True)}
            added, done = True, int(fields["batches"])
        if not added or "batches" not in fields or done != int(fields["batches"]):
            return None
        summary = {"cycle_id": cycle_id, "symbols": int(fields["symbols"]), "batches": int(fields["batches"]),
                   "successes": int(fields["successes"]), "failures": int(fields["failures"]),
                   "duration": round(now - float(fields["started_at"]), 3)}
        self.write(last_cycle_duration=summary["duration"], last_cycle=summary)
        return summary

    # -- flags ---------------------------------------------------------------------------------------
    def set_flag(self, name: str, on: bool) -> bool:
        """Set a flag; True when this call changed it (so exactly one process announces a change)."""
        if self.client is None:
            with self._lock:
                before = self._flags.get(name, False)
                self._flags[name] = on
                return before != on
        previous: Any = self.client.set(f"{self.prefix}:feed:flag:{name}", "1" if on else "0", get=True)
        return (previous is not None and _text(previous) == "1") != on

    def flag(self, name: str) -> bool:
        """The current value of a flag."""
        if self.client is None:
            return self._flags.get(name, False)
        value = self.client.get(f"{self.prefix}:feed:flag:{name}")
        return value is not None and _text(value) == "1"

    # -- the reference's status ------------------------------------------------------------------------
    def service_status(self, update_interval: int) -> dict[str, Any]:
        """The reference's get_service_status(): running means a heartbeat within two intervals.

        The interval is the running feed's own (it records it each cycle), else `update_interval`.
        """
        fields = self.read()
        update_interval = int(fields.get("update_interval") or update_interval)
        heartbeat = fields.get("heartbeat_at")
        running = heartbeat is not None and time.time() - float(heartbeat) <= 2 * update_interval
        successes, failures = self.source_totals()
        return {
            "running": running,
            "last_update": fields.get("last_update"),
            "last_cycle_duration": fields.get("last_cycle_duration"),
            "assets_tracked": fields.get("assets_tracked", 0),
            "update_interval": update_interval,
            "successes_by_source": successes,
            "failures_by_source": failures,
            "failed_symbols": sorted(self.failed_updates()),
            "heartbeat_at": heartbeat,
            "last_cycle": fields.get("last_cycle"),
            "cycles_started": fields.get("cycles_started", 0),
            "cycles_skipped": fields.get("cycles_skipped", 0),
            "portfolio_revaluation_failures": fields.get(REVALUATION_FAILURES, 0),
            "failover": self.flag("failover"),
            "stale": self.flag("stale"),
        }


def _failure_entries(failed: Mapping[str, str], previous: Mapping[str, Any], now: float) -> dict[Any, Any]:
    """JSON failure records keeping the time of the first failure in a row."""
    entries: dict[Any, Any] = {}
    for symbol, reason in failed.items():
        before = previous.get(symbol)
        since = json.loads(_text(before)).get("since", now) if before else now
        entries[symbol] = json.dumps({"error": reason, "since": since, "at": now})
    return entries


def init_feed_status(app: Flask) -> FeedStatusStore:
    """Attach the store to `app`: Redis when configured, else in-process."""
    url = app.config.get("REDIS_URL")
    client = redis_client(url, socket_connect_timeout=5) if url else None
    store = FeedStatusStore(client, app.config.get("REDIS_KEY_PREFIX", "pricewire"))
    app.extensions[EXTENSION_KEY] = store
    return store


def get_feed_status(app: Flask | None = None) -> FeedStatusStore:
    """The store of `app`, or of the current app."""
    return (app or current_app).extensions[EXTENSION_KEY]  # type: ignore[no-any-return]


def request_symbols(symbols: Iterable[str], app: Flask | None = None) -> int:
    """Have the feed track these (valid, upper-case) symbols for the next ten minutes."""
    return get_feed_status(app).request_symbols(symbols)
