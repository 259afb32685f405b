"""The feed status in dicts: embedded mode, where the feed and its readers share one process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from infra.feed_status.base import (
    REQUEST_WINDOW_SECONDS,
    FeedStatusStore,
    encode_source_stats,
    failure_entries,
    process_name,
)


class MemoryFeedStatusStore(FeedStatusStore):
    """One process's feed status, guarded by a lock (the feed's greenlets and requests share it)."""

    def __init__(self, prefix: str = "pricewire") -> None:
        super().__init__(prefix)
        self._status: dict[str, str] = {}
        self._requested: dict[str, float] = {}
        self._failed: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._cycles: dict[str, dict[str, Any]] = {}
        self._flags: dict[str, bool] = {}
        self._lock = threading.Lock()

    def write(self, **fields: Any) -> None:
        """Merge these fields (JSON-encoded) into the status."""
        encoded = {name: json.dumps(value, default=str) for name, value in fields.items()}
        with self._lock:
            self._status.update(encoded)

    def incr(self, field: str, amount: int = 1) -> int:
        """Add to a counter field."""
        with self._lock:
            value = int(self._status.get(field, "0")) + amount
            self._status[field] = str(value)
            return value

    def _raw_status(self) -> Mapping[Any, Any]:
        with self._lock:
            return dict(self._status)

    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track these symbols for the next REQUEST_WINDOW_SECONDS."""
        now = time.time()
        wanted = {symbol: now for symbol in dict.fromkeys(symbols)}
        with self._lock:
            self._requested.update(wanted)
        return len(wanted)

    def requested_symbols(self) -> list[str]:
        """Symbols requested within the window; older entries are dropped."""
        cutoff = time.time() - REQUEST_WINDOW_SECONDS
        with self._lock:
            self._requested = {s: at for s, at in self._requested.items() if at >= cutoff}
            return sorted(self._requested)

    def record_results(self, succeeded: Iterable[str], failed: Mapping[str, str]) -> None:
        """Forget the failures of `succeeded`; remember `failed`."""
        with self._lock:
            previous = {s: self._failed.get(s) for s in failed}
            for symbol in succeeded:
                self._failed.pop(symbol, None)
            self._failed.update(failure_entries(failed, previous, time.time()))

    def _raw_failures(self) -> Mapping[Any, Any]:
        with self._lock:
            return dict(self._failed)

    def _forget_failures(self, symbols: list[str]) -> None:
        with self._lock:
            for symbol in symbols:
                self._failed.pop(symbol, None)

    def record_source_stats(self, stats: Mapping[str, Mapping[str, Any]]) -> None:
        """Store this process's cumulative per-source counters."""
        with self._lock:
            self._sources[process_name()] = encode_source_stats(stats)

    def _raw_sources(self) -> Mapping[Any, Any]:
        with self._lock:
            return dict(self._sources)

    def start_cycle(self, cycle_id: str, batches: int, symbols: int) -> None:
        """Open the latch of a cycle of `batches` batches."""
        with self._lock:
            self._cycles[cycle_id] = {"started_at": time.time(), "batches": batches, "symbols": symbols,
                                      "successes": 0, "failures": 0, "done": set()}

    def _finish(self, cycle_id: str, batch_no: int, successes: int, failures: int,
                final: bool) -> Mapping[str, Any] | None:
        with self._lock:
            cycle = self._cycles.get(cycle_id)
            if cycle is None:
                return None
            cycle["successes"] += successes
            if not final or batch_no in cycle["done"]:
                return None
            cycle["failures"] += failures
            cycle["done"].add(batch_no)
            return dict(cycle) if len(cycle["done"]) == cycle["batches"] else None

    def set_flag(self, name: str, on: bool) -> bool:
        """Set a flag; True when this call changed it."""
        with self._lock:
            before = self._flags.get(name, False)
            self._flags[name] = on
            return before != on

    def flag(self, name: str) -> bool:
        """The current value of a flag."""
        return self._flags.get(name, False)
