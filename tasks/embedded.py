"""Embedded mode (no REDIS_URL): the feed's cycle on a gevent timer inside the one serving process.

The same pipeline functions as the Celery tasks run in greenlets and publish through the in-process bus.
Embedded mode is single-process by construction: `python wsgi.py` (make run) starts it from serve();
gunicorn without REDIS_URL starts no feed (each worker would have its own bus), so use one process there.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Sequence
from typing import Any

import gevent
from flask import Flask
from gevent.event import Event
from gevent.pool import Pool

from infra.bus import get_bus
from infra.feed_status import get_feed_status
from infra.settings import get_settings
from tasks import executors, pipeline, runner
from tasks.executors import BatchJob
from tasks.maintenance import PRUNE_PERIOD_SECONDS, prune_expired_history

logger = logging.getLogger("pricewire.price_feed")

EXTENSION_KEY = "pricewire.embedded_feed"


class GeventExecutor:
    """Batches on greenlets of this process, REALTIME_MAX_WORKERS at a time, with the in-process retry policy."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.refreshes: list[gevent.Greenlet] = []  # unawaited runs in flight (finished ones are pruned)

    def run(self, jobs: Sequence[BatchJob], wait: bool = False) -> list[str]:
        """Run the jobs; with `wait` return when all are done, else leave them running."""
        pool = Pool(get_settings(self.app).realtime_max_workers)
        started = [pool.spawn(self._batch, job) for job in jobs]
        if wait:
            pool.join()
        else:
            self.refreshes = [greenlet for greenlet in self.refreshes if not greenlet.dead] + started
        return []

    def _batch(self, job: BatchJob) -> pipeline.BatchResult | None:
        """One batch; errors are logged, never kill the loop."""
        with self.app.app_context():
            try:
                return pipeline.run_batch(job.symbols, force=job.force, cycle_id=job.cycle_id, batch_no=job.batch_no,
                                          sleep=gevent.sleep)
            except Exception:
                logger.exception("embedded batch failed", extra={"symbols": list(job.symbols)[:20]})
                return None


class EmbeddedFeed:
    """The price feed without a broker: a cycle every interval and a heartbeat, as greenlets."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.stopping = Event()
        self.greenlets: list[gevent.Greenlet] = []
        self.executor = GeventExecutor(app)

    @property
    def interval(self) -> int:
        """Seconds between cycles."""
        return get_settings(self.app).realtime_update_interval

    def run_cycle(self) -> dict[str, Any]:
        """One cycle now (tasks.runner): the batches on a pool of REALTIME_MAX_WORKERS greenlets, awaited."""
        with self.app.app_context():
            return runner.run_cycle(self.app, self.executor, wait=True)

    def refresh(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Forced update of `symbols` in greenlets; they stay tracked for the next ten minutes."""
        wanted, batches, _ = executors.refresh(self.app, self.executor, symbols)
        return {"mode": "embedded", "symbols": wanted, "batches": batches}

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
        """Run in the foreground until SIGINT or SIGTERM (main thread only)."""
        # The hub's handlers only set `stopping`: Python's default SIGINT raises KeyboardInterrupt in whichever
        # greenlet runs at that instant (a cycle's, mid-commit), which could leave the loop running.
        handlers = [gevent.signal_handler(number, self.stopping.set) for number in (signal.SIGINT, signal.SIGTERM)]
        self.start()
        try:
            self.stopping.wait()
        finally:
            for handler in handlers:
                handler.cancel()
            self.stop()


def embedded_feed(app: Flask) -> EmbeddedFeed:
    """The app's embedded feed (created, not started)."""
    feed = app.extensions.get(EXTENSION_KEY)
    if feed is None:
        feed = app.extensions[EXTENSION_KEY] = EmbeddedFeed(app)
    return feed


def start_embedded_feed(app: Flask) -> EmbeddedFeed | None:
    """Start the embedded feed when the app is in embedded mode; in Celery mode beat runs the feed."""
    if not get_settings(app).embedded:
        return None
    return embedded_feed(app).start()
