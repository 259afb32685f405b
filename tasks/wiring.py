"""Composition: attach the feed to an app (wsgi.py and celery_worker.py call attach_feed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery
from flask import Flask

from models.feed_status import get_feed_status
from protocol.feed_control import FEED_CONTROL_EXTENSION, TASK_UPDATE_BATCH, FeedControl
from protocol.symbols import is_valid_symbol
from tasks.celery_app import EXTENSION_KEY as CELERY_KEY
from tasks.celery_app import batch_expiry, celery_init_app


def _celery(app: Flask) -> Celery:
    """The app's Celery instance, created when the composition root has not done so."""
    existing = app.extensions.get(CELERY_KEY)
    return existing if existing is not None else celery_init_app(app)


def _valid(symbols: Iterable[str]) -> list[str]:
    return [symbol for symbol in dict.fromkeys(symbols) if is_valid_symbol(symbol)]


class CeleryFeedControl:
    """Celery mode: track the symbols and enqueue force=True batches by task name."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track `symbols` in the shared status store."""
        return get_feed_status(self.app).request_symbols(_valid(symbols))

    def refresh(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Enqueue forced batches (the web process never imports the task code)."""
        wanted = _valid(symbols)
        self.request_symbols(wanted)
        celery, size = _celery(self.app), int(self.app.config["REALTIME_BATCH_SIZE"])
        task_ids = [
            celery.send_task(TASK_UPDATE_BATCH, kwargs={"symbols": wanted[start:start + size], "force": True},
                             expires=batch_expiry(self.app.config)).id
            for start in range(0, len(wanted), size)
        ]
        return {"mode": "celery", "symbols": wanted, "batches": len(task_ids), "task_ids": task_ids}


class EmbeddedFeedControl:
    """Embedded mode: run the batches in greenlets of this process."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track `symbols` in the status store."""
        return get_feed_status(self.app).request_symbols(_valid(symbols))

    def refresh(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Forced update of `symbols` by the embedded feed."""
        from tasks.embedded import embedded_feed  # gevent only where embedded mode runs

        return embedded_feed(self.app).refresh(_valid(symbols))


def attach_feed(app: Flask) -> FeedControl:
    """Register the FeedControl (and, in Celery mode, the Celery app) on `app`."""
    control: FeedControl
    if app.config.get("EMBEDDED"):
        control = EmbeddedFeedControl(app)
    else:
        _celery(app)
        control = CeleryFeedControl(app)
    app.extensions[FEED_CONTROL_EXTENSION] = control
    return control
