"""The reference's Python API as thin facades over tasks.pipeline: PriceFeedService, BatchPriceProcessor."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from infra.feed_status import get_feed_status
from infra.settings import get_settings, update_settings
from models.base import db
from tasks import pipeline
from tasks.celery_app import EXTENSION_KEY as CELERY_KEY
from tasks.celery_app import celery_config, celery_init_app
from tasks.market_data import DataSourceManager


def _app(app: Flask | None) -> Flask:
    return app or current_app._get_current_object()  # type: ignore[attr-defined]


def run_celery_feed(app: Flask, concurrency: int, loglevel: str = "INFO") -> None:
    """Beat plus a prefork worker pool in this process (like `celery worker --beat`); returns on shutdown."""
    celery = app.extensions.get(CELERY_KEY) or celery_init_app(app)
    celery.conf.update(celery_config(get_settings(app)))  # the interval, batch size and pool size just chosen
    import tasks.feed  # noqa: F401 - registers the tasks

    schedule = Path(app.instance_path) / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    celery.worker_main(["worker", "--beat", "--schedule", str(schedule), "--pool", "prefork",
                        "--concurrency", str(concurrency), "--loglevel", loglevel,
                        "--hostname", f"feed@{socket.gethostname()}"])


class PriceFeedService:
    """The scheduled feed: start it, update symbols now, read its status."""

    def __init__(self, update_interval: int | None = None, batch_size: int | None = None,
                 enable_caching: bool = True, app: Flask | None = None) -> None:
        self.app = _app(app)
        settings = get_settings(self.app)
        self.update_interval = int(update_interval or settings.realtime_update_interval)
        self.batch_size = int(batch_size or settings.realtime_batch_size)
        self.enable_caching = enable_caching

    def start_price_feed(self, max_workers: int | None = None, loglevel: str = "INFO") -> None:
        """Run the feed in the foreground (blocking): beat + worker pool, or the embedded loop."""
        settings = update_settings(self.app, realtime_update_interval=self.update_interval,
                                   realtime_batch_size=self.batch_size,
                                   realtime_max_workers=int(max_workers or get_settings(self.app).realtime_max_workers))
        if settings.embedded:
            from tasks.embedded import embedded_feed  # gevent only where embedded mode runs

            embedded_feed(self.app).run_forever()
        else:
            run_celery_feed(self.app, settings.realtime_max_workers, loglevel)

    def update_asset_prices(self, symbols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Update these symbols now (stored and published); symbol -> quote fields of each one served."""
        processor = BatchPriceProcessor(self.batch_size, 1, True, app=self.app, force=not self.enable_caching)
        return {row["symbol"]: row for _, rows in processor.process_in_batches(symbols) for row in rows
                if row["success"]}

    def get_service_status(self) -> dict[str, Any]:
        """running, last_update, last_cycle_duration, assets_tracked, update_interval, counters, failures."""
        return get_feed_status(self.app).service_status(self.update_interval)


class BatchPriceProcessor:
    """Large symbol lists in batches, several at a time, with transient failures retried."""

    def __init__(self, batch_size: int = 100, concurrent_batches: int = 3, retry_failed: bool = True, *,
                 app: Flask | None = None, dry_run: bool = False, publish: bool = True, force: bool = True,
                 manager: DataSourceManager | None = None) -> None:
        self.app = _app(app)
        self.batch_size = max(1, int(batch_size))
        self.concurrent_batches = max(1, int(concurrent_batches))
        self.retry_failed = retry_failed
        self.dry_run = dry_run
        self.publish = publish
        self.force = force
        self.manager = manager
        self.failed: dict[str, str] = {}

    def _run(self, symbols: list[str]) -> list[dict[str, Any]]:
        with self.app.app_context():
            batch = pipeline.run_batch(symbols, force=self.force, dry_run=self.dry_run, publish=self.publish,
                                       retry=self.retry_failed, manager=self.manager)
        return batch.rows()

    def _workers(self) -> int:
        with self.app.app_context():
            # SQLite has one writer at a time (and :memory: one connection): run its batches one by one.
            return 1 if db.engine.dialect.name == "sqlite" else self.concurrent_batches

    def process_in_batches(self, symbols: Iterable[str]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """Yield (batch number from 1, per-symbol result dicts with `success`) in batch order."""
        batches = pipeline.split_batches(list(dict.fromkeys(symbols)), self.batch_size)
        self.failed = {}
        with ThreadPoolExecutor(max_workers=min(self._workers(), max(1, len(batches)))) as pool:
            for number, rows in enumerate(pool.map(self._run, batches), start=1):
                self.failed.update({row["symbol"]: row["error"] for row in rows if not row["success"]})
                yield number, rows

    def get_failed_updates(self) -> list[dict[str, Any]]:
        """The symbols of the last run that failed in every source, with why."""
        return [{"symbol": symbol, "error": error} for symbol, error in self.failed.items()]

    def retry_failed_updates(self, failed: Iterable[Mapping[str, Any] | str]) -> dict[str, dict[str, Any]]:
        """Fetch these failures again (fresh, not cached); symbol -> result dict."""
        symbols = [item if isinstance(item, str) else str(item["symbol"]) for item in failed]
        retry = BatchPriceProcessor(self.batch_size, self.concurrent_batches, self.retry_failed, app=self.app,
                                    dry_run=self.dry_run, publish=self.publish, force=True, manager=self.manager)
        results = {row["symbol"]: row for _, rows in retry.process_in_batches(symbols) for row in rows}
        self.failed = retry.failed
        return results
