"""Embedded mode (no REDIS_URL): the feed's cycle on a gevent timer inside the one serving process.

The same pipeline functions as the Celery tasks run in greenlets and publish through the in-process bus.
Embedded mode is single-process by construction: `python wsgi.py` (make run) starts it from serve();
gunicorn without REDIS_URL starts no feed (each worker would have its own bus), so use one process there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import gevent
from flask import Flask
from gevent.event import Event
from gevent.pool import Pool

from models.bus import get_bus
from models.feed_status import get_feed_status
from tasks import pipeline
from tasks.locks import cycle_lock
from tasks.maintenance import PRUNE_PERIOD_SECONDS, prune_expired_history

logger = logging.getLogger("pricewire.price_feed")

EXTENSION_KEY = "pricewire.embedded_feed"


class EmbeddedFeed:
    """The price feed without a broker: a cycle every interval and a heartbeat, as greenlets."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.stopping = Event()
        self.greenlets: list[gevent.Greenlet] = []
        self.refreshes: list[gevent.Greenlet] = []  # forced refreshes in flight (finished ones are pruned)

    @property
    def interval(self) -> int:
        """Seconds between cycles."""
        return int(self.app.config["REALTIME_UPDATE_INTERVAL"])

    def run_cycle(self) -> dict[str, Any]:
        """One cycle now: pick, split, run the batches on a pool of REALTIME_MAX_WORKERS greenlets."""
        started = time.monotonic()
        with self.app.app_context():
            store = get_feed_status(self.app)
            if not cycle_lock(store, self.interval).acquire():
                store.incr("cycles_skipped")
                return {"skipped": True}
            plan = pipeline.plan_cycle(store, self.app.config["REALTIME_BATCH_SIZE"], self.interval)
            pipeline.check_stale(store, get_bus(self.app), self.app.config["DATA_STALE_AFTER_SECONDS"],
                                 bool(plan.symbols))
        if not plan.batches:
            pipeline.log_cycle({"cycle_id": plan.cycle_id, "symbols": 0, "batches": 0, "successes": 0,
                                "failures": 0, "duration": round(time.monotonic() - started, 3)})
            return {"cycle_id": plan.cycle_id, "symbols": 0, "batches": 0}
        pool = Pool(int(self.app.config["REALTIME_MAX_WORKERS"]))
        for number, symbols in enumerate(plan.batches, start=1):
            pool.spawn(self._batch, symbols, plan.cycle_id, number, pipeline.cycle_force(self.app.config))
        pool.join()
        return {"cycle_id": plan.cycle_id, "symbols": len(plan.symbols), "batches": len(plan.batches)}

    def _batch(self, symbols: Sequence[str], cycle_id: str | None = None, batch_no: int | None = None,
               force: bool = False) -> pipeline.BatchResult | None:
        """One batch with the in-process retry policy; errors are logged, never kill the loop."""
        with self.app.app_context():
            try:
                return pipeline.run_batch(symbols, force=force, cycle_id=cycle_id, batch_no=batch_no,
                                          sleep=gevent.sleep)
            except Exception:
                logger.exception("embedded batch failed", extra={"symbols": list(symbols)[:20]})
                return None

    def refresh(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Forced update of `symbols` in a greenlet; they stay tracked for the next ten minutes."""
        wanted = list(dict.fromkeys(symbols))
        get_feed_status(self.app).request_symbols(wanted)
        batches = pipeline.split_batches(wanted, self.app.config["REALTIME_BATCH_SIZE"])
        self.refreshes = [greenlet for greenlet in self.refreshes if not greenlet.dead]
        self.refreshes += [gevent.spawn(self._batch, batch, None, None, True) for batch in batches]
        return {"mode": "embedded", "symbols": wanted, "batches": len(batches)}

    def _cycle_loop(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                self.run_cycle()
            except Exception:
                logger.exception("embedded price feed cycle failed")
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _heartbeat_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                get_feed_status(self.app).heartbeat()
                pipeline.publish_heartbeat(get_bus(self.app), "embedded")
            except Exception:
                logger.warning("embedded heartbeat failed", exc_info=True)
            self.stopping.wait(pipeline.HEARTBEAT_PERIOD)

    def _maintenance_loop(self) -> None:
        while not self.stopping.wait(PRUNE_PERIOD_SECONDS):
            try:
                with self.app.app_context():
                    prune_expired_history(self.app)
            except Exception:
                logger.exception("embedded history pruning failed")

    def start(self) -> EmbeddedFeed:
        """Start the cycle, heartbeat and housekeeping greenlets (once)."""
        if not self.greenlets:
            self.greenlets = [gevent.spawn(self._heartbeat_loop), gevent.spawn(self._cycle_loop),
                              gevent.spawn(self._maintenance_loop)]
            logger.info("embedded price feed started", extra={"interval": self.interval})
        return self

    def stop(self) -> None:
        """Stop after the current cycle."""
        self.stopping.set()
        gevent.joinall(self.greenlets, timeout=5)
        self.greenlets = []

    def run_forever(self) -> None:
        """Run in the foreground until interrupted."""
        self.start()
        try:
            self.stopping.wait()
        finally:
            self.stop()


def embedded_feed(app: Flask) -> EmbeddedFeed:
    """The app's embedded feed (created, not started)."""
    feed = app.extensions.get(EXTENSION_KEY)
    if feed is None:
        feed = app.extensions[EXTENSION_KEY] = EmbeddedFeed(app)
    return feed


def start_embedded_feed(app: Flask) -> EmbeddedFeed | None:
    """Start the embedded feed when the app is in embedded mode; in Celery mode beat runs the feed."""
    if not app.config.get("EMBEDDED"):
        return None
    return embedded_feed(app).start()
