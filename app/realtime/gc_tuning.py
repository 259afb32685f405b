"""The garbage collector of a web process: long-lived socket state kept out of full collections.

Thousands of open sockets are hundreds of thousands of objects that live for hours. CPython's full
collection walks all of them (about a second at 5,000 sockets), and the relay delivers nothing meanwhile.
Every few seconds the objects younger than the last freeze are collected (cheap: the frozen ones are
skipped) and what survived is frozen: a generation the collector skips. Collecting first matters:
freezing cyclic garbage keeps it until the hourly collection of everything (issue 16: a worker grew by
~28 MiB per 5,000 subscribe/unsubscribe cycles). A closed connection is freed by reference counting (it
holds no cycles), and the rare full collection of everything catches whatever else there was.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import gevent

from app.realtime.tasks import spawn

logger = logging.getLogger("pricewire.realtime")

# Fewer, larger young collections: per-message objects die before they are promoted (measured in bench/).
THRESHOLDS = (50_000, 50, 1000)


class GcScheduler:
    """Every `freeze_interval` s freeze the survivors; every `collect_interval` s (0 = never) collect all once."""

    def __init__(self, freeze_interval: float, collect_interval: float) -> None:
        self.freeze_interval = freeze_interval
        self.collect_interval = collect_interval
        self.greenlet: gevent.Greenlet | None = None
        self.last_collection: dict[str, Any] | None = None
        self._saved_thresholds: tuple[int, int, int] | None = None
        self._next_full = time.monotonic() + collect_interval

    @property
    def enabled(self) -> bool:
        """False when WEBSOCKET_GC_FREEZE_INTERVAL is 0: the interpreter's defaults apply."""
        return self.freeze_interval > 0

    def start(self) -> None:
        """Tune the collector and freeze what start-up left behind (no-op when disabled or running)."""
        if not self.enabled or (self.greenlet is not None and not self.greenlet.dead):
            return
        if self._saved_thresholds is None:
            self._saved_thresholds = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)
        self.collect_young()
        if self._freeze_survivors not in gc.callbacks:
            gc.callbacks.append(self._freeze_survivors)
        self.greenlet = spawn(self._run, name="relay-gc")

    def stop(self) -> None:
        """Give the collector back its defaults and every frozen object."""
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=1)
            self.greenlet = None
        if self._freeze_survivors in gc.callbacks:
            gc.callbacks.remove(self._freeze_survivors)
        if self._saved_thresholds is not None:
            gc.set_threshold(*self._saved_thresholds)
            self._saved_thresholds = None
            gc.unfreeze()

    def collect_all(self) -> int:
        """One full collection of everything (frozen included); returns the objects freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.last_collection = {"freed": freed, "seconds": round(time.perf_counter() - started, 3),
                                "at": time.time()}
        logger.info("full garbage collection", extra=self.last_collection)
        return freed

    @staticmethod
    def collect_young() -> int:
        """Collect what is younger than the last freeze, then freeze the survivors; returns the objects freed."""
        freed = gc.collect()  # frozen objects are not walked
        gc.freeze()  # O(1): the generations are spliced onto the frozen one
        return freed

    def tick(self, now: float) -> None:
        """One step of the schedule: the collection of everything when due, else collect-then-freeze."""
        if self.collect_interval > 0 and now >= self._next_full:
            self.collect_all()
            self._next_full = now + self.collect_interval
        else:
            self.collect_young()

    @staticmethod
    def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
        """After a full collection, what survived it is long-lived: the next one need not walk it again."""
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    def _run(self) -> None:
        self._next_full = time.monotonic() + self.collect_interval
        while True:
            gevent.sleep(self.freeze_interval)
            self.tick(time.monotonic())
