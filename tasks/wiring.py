"""Composition: attach the feed to an app (wsgi.py and celery_worker.py call attach_feed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery
from flask import Flask

from infra.feed_status import get_feed_status
from infra.settings import get_settings
from protocol.feed_control import FEED_CONTROL_EXTENSION, FeedControl
from protocol.symbols import is_valid_symbol
from tasks import executors
from tasks.celery_app import EXTENSION_KEY as CELERY_KEY
from tasks.celery_app import celery_init_app
from tasks.executors import CeleryExecutor


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
        """Enqueue forced batches by task name (the web process never imports the task code)."""
        executor = CeleryExecutor.for_app(self.app, _celery(self.app))
        wanted, batches, task_ids = executors.refresh(self.app, executor, _valid(symbols))
        return {"mode": "celery", "symbols": wanted, "batches": batches, "task_ids": task_ids}


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
    if get_settings(app).embedded:
        control = EmbeddedFeedControl(app)
    else:
        _celery(app)
        control = CeleryFeedControl(app)
    app.extensions[FEED_CONTROL_EXTENSION] = control
    return control
