"""Composition: attach the feed to an app (wsgi.py and celery_worker.py call attach_feed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery
from flask import Flask

from models.feed_status import get_feed_status
from models.messages import is_valid_symbol
from tasks.celery_app import EXTENSION_KEY as CELERY_KEY
from tasks.celery_app import batch_expiry, celery_init_app

REFRESH_KEY = "pricewire.refresh"
UPDATE_BATCH = "pricewire.feed.update_batch"  # by name: the web process never imports the task code


def _celery(app: Flask) -> Celery:
    """The app's Celery instance, created when the composition root has not done so."""
    existing = app.extensions.get(CELERY_KEY)
    return existing if existing is not None else celery_init_app(app)


def celery_refresh(app: Flask) -> Callable[[list[str]], dict[str, Any]]:
    """Forced refresh in Celery mode: track the symbols and enqueue force=True batches."""

    def refresh(symbols: list[str]) -> dict[str, Any]:
        wanted = [symbol for symbol in dict.fromkeys(symbols) if is_valid_symbol(symbol)]
        get_feed_status(app).request_symbols(wanted)
        celery, size = _celery(app), int(app.config["REALTIME_BATCH_SIZE"])
        task_ids = [
            celery.send_task(UPDATE_BATCH, kwargs={"symbols": wanted[start:start + size], "force": True},
                             expires=batch_expiry(app.config)).id
            for start in range(0, len(wanted), size)
        ]
        return {"mode": "celery", "symbols": wanted, "batches": len(task_ids), "task_ids": task_ids}

    return refresh


def embedded_refresh(app: Flask) -> Callable[[list[str]], dict[str, Any]]:
    """Forced refresh in embedded mode: run the batch in a greenlet of this process."""

    def refresh(symbols: list[str]) -> dict[str, Any]:
        from tasks.embedded import embedded_feed  # gevent only where embedded mode runs

        return embedded_feed(app).refresh([symbol for symbol in symbols if is_valid_symbol(symbol)])

    return refresh


def attach_feed(app: Flask) -> None:
    """Register the forced-refresh entry point (and, in Celery mode, the Celery app) on `app`."""
    if app.config.get("EMBEDDED"):
        app.extensions[REFRESH_KEY] = embedded_refresh(app)
    else:
        _celery(app)
        app.extensions[REFRESH_KEY] = celery_refresh(app)
