"""What every feed-status backend does, and the logic they share (status summary, retry window, cycle summary)."""

from __future__ import annotations

import json
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

import redis

from protocol.bus import HEARTBEAT_PERIOD_SECONDS

# Symbols asked for by a subscriber, a forced refresh or a failed one-off update are tracked this long.
REQUEST_WINDOW_SECONDS = 600
# Counter field: portfolios whose revaluation failed and was skipped (tasks.portfolio_tracker).
REVALUATION_FAILURES = "portfolio_revaluation_failures"
# Per-process source counters and cycle latches outlive their writers by this much, then vanish.
SOURCES_TTL_SECONDS = 86_400
CYCLE_TTL_SECONDS = 3_600


def heartbeat_grace(update_interval: float) -> float:
    """Seconds without a beat heartbeat before the feed counts as stopped.

    Two intervals, and never less than three heartbeat periods: beat beats every
    HEARTBEAT_PERIOD_SECONDS whatever the interval.
    """
    return max(2 * update_interval, 3 * HEARTBEAT_PERIOD_SECONDS)


def text(value: str | bytes) -> str:
    """Redis answers bytes; the memory backend keeps str."""
    return value.decode() if isinstance(value, bytes) else value


def failure_entries(failed: Mapping[str, str], previous: Mapping[str, Any], now: float) -> dict[str, str]:
    """JSON failure records keeping the time of the first failure in a row."""
    entries: dict[str, str] = {}
    for symbol, reason in failed.items():
        before = previous.get(symbol)
        since = json.loads(text(before)).get("since", now) if before else now
        entries[symbol] = json.dumps({"error": reason, "since": since, "at": now})
    return entries


def process_name() -> str:
    """host:pid, the key of this process's source counters."""
    return f"{socket.gethostname()}:{os.getpid()}"


def encode_source_stats(stats: Mapping[str, Mapping[str, Any]]) -> str:
    """This process's per-source counters as stored."""
    return json.dumps({name: {"successes": s.get("successes", 0), "failures": s.get("failures", 0),
                              "state": s.get("state")} for name, s in stats.items()})


class FeedStatusStore(ABC):
    """Where the feed records its heartbeat, cycles, failures and requests; anyone reads them."""

    # The Redis client (None in memory), for tasks.locks and the quote cache; prefix of every key.
    client: redis.Redis | None = None

    def __init__(self, prefix: str = "pricewire") -> None:
        self.prefix = prefix
        self.local_locks: dict[str, tuple[str, float]] = {}  # tasks.locks keeps in-memory locks here

    # -- plain fields ----------------------------------------------------------------------------
    @abstractmethod
    def write(self, **fields: Any) -> None:
        """Merge these fields (JSON-encoded) into the status."""

    @abstractmethod
    def incr(self, field: str, amount: int = 1) -> int:
        """Add to a counter field (a JSON integer, so `read` decodes it)."""

    @abstractmethod
    def _raw_status(self) -> Mapping[Any, Any]:
        """The status hash as stored."""

    def heartbeat(self) -> None:
        """Say the scheduler is alive now."""
        self.write(heartbeat_at=time.time())

    def read(self) -> dict[str, Any]:
        """Every recorded field, decoded."""
        return {text(name): json.loads(text(value)) for name, value in self._raw_status().items()}

    # -- symbols asked for -----------------------------------------------------------------------
    @abstractmethod
    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track these symbols for the next REQUEST_WINDOW_SECONDS (a later request extends it)."""

    @abstractmethod
    def requested_symbols(self) -> list[str]:
        """Symbols requested within the window; older entries are dropped."""

    # -- failed symbols --------------------------------------------------------------------------
    @abstractmethod
    def record_results(self, succeeded: Iterable[str], failed: Mapping[str, str]) -> None:
        """Forget the failures of `succeeded`; remember `failed` (symbol -> reason) with since/at times."""

    @abstractmethod
    def _raw_failures(self) -> Mapping[Any, Any]:
        """The failed-symbols hash as stored."""

    @abstractmethod
    def _forget_failures(self, symbols: list[str]) -> None:
        """Drop these symbols' failure records."""

    def failed_updates(self) -> dict[str, dict[str, Any]]:
        """Symbol -> {"error", "since", "at"} of every symbol whose last update failed in every source."""
        return {text(symbol): json.loads(text(value)) for symbol, value in self._raw_failures().items()}

    def retryable_failures(self) -> list[str]:
        """Failed symbols still worth retrying (first failure within the window); stale entries are purged."""
        now = time.time()
        failures = self.failed_updates()
        expired = [s for s, info in failures.items() if now - float(info.get("at", 0)) > REQUEST_WINDOW_SECONDS]
        if expired:
            self._forget_failures(expired)
        return sorted(s for s, info in failures.items() if now - float(info.get("since", 0)) <= REQUEST_WINDOW_SECONDS)

    # -- per-source counters ---------------------------------------------------------------------
    @abstractmethod
    def record_source_stats(self, stats: Mapping[str, Mapping[str, Any]]) -> None:
        """Store this process's cumulative per-source counters (summed over processes on read)."""

    @abstractmethod
    def _raw_sources(self) -> Mapping[Any, Any]:
        """Process -> JSON counters, as stored."""

    def source_totals(self) -> tuple[dict[str, int], dict[str, int]]:
        """(successes by source, failures by source) over every process."""
        successes: dict[str, int] = {}
        failures: dict[str, int] = {}
        for value in self._raw_sources().values():
            for name, counts in json.loads(text(value)).items():
                successes[name] = successes.get(name, 0) + int(counts.get("successes") or 0)
                failures[name] = failures.get(name, 0) + int(counts.get("failures") or 0)
        return successes, failures

    # -- cycles ----------------------------------------------------------------------------------
    @abstractmethod
    def start_cycle(self, cycle_id: str, batches: int, symbols: int) -> None:
        """Open the latch of a cycle of `batches` batches."""

    @abstractmethod
    def _finish(self, cycle_id: str, batch_no: int, successes: int, failures: int,
                final: bool) -> Mapping[str, Any] | None:
        """Count the attempt; the cycle's fields when this final attempt was its last batch, else None."""

    def finish_batch(self, cycle_id: str, batch_no: int, successes: int, failures: int,
                     final: bool = True) -> dict[str, Any] | None:
        """Count a batch attempt; the summary of the cycle when this final attempt completed it, else None.

        Idempotent per batch number: a redelivered batch does not complete its cycle twice.
        """
        now = time.time()
        fields = self._finish(cycle_id, batch_no, successes, failures, final)
        if fields is None:
            return None
        summary = {"cycle_id": cycle_id, "symbols": int(fields["symbols"]), "batches": int(fields["batches"]),
                   "successes": int(fields["successes"]), "failures": int(fields["failures"]),
                   "duration": round(now - float(fields["started_at"]), 3)}
        self.write(last_cycle_duration=summary["duration"], last_cycle=summary)
        return summary

    # -- flags -----------------------------------------------------------------------------------
    @abstractmethod
    def set_flag(self, name: str, on: bool) -> bool:
        """Set a flag; True when this call changed it (so exactly one process announces a change)."""

    @abstractmethod
    def flag(self, name: str) -> bool:
        """The current value of a flag."""

    # -- the reference's status ------------------------------------------------------------------
    def service_status(self, update_interval: int) -> dict[str, Any]:
        """The reference's get_service_status(): running means a heartbeat within heartbeat_grace(interval).

        The interval is the running feed's own (it records it each cycle), else `update_interval`.
        """
        fields = self.read()
        update_interval = int(fields.get("update_interval") or update_interval)
        heartbeat = fields.get("heartbeat_at")
        running = heartbeat is not None and time.time() - float(heartbeat) <= heartbeat_grace(update_interval)
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
