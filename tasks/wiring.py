"""Composition: attach the feed to an app (wsgi.py and celery_worker.py call attach_feed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery
from flask import Flask

from infra.feed_status import get_feed_status
from infra.settings import get_settings
from infra.symbol_requests import LOOKUP_EXTENSION, SymbolLookup
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


# A failure whose reason says any of these tells nothing about the symbol: ask again later.
UNSURE_MARKERS = ("timed out", "connection error", "server error", "rate limit", "throttl", "cooling down",
                  "circuit", "is not set", "no market data source", "no answer", "no result")


def symbol_verdict(success: bool, reason: str | None) -> bool | None:
    """True: a provider quoted it; False: the providers answered and none knows it; None: cannot tell now."""
    if success:
        return True
    text = (reason or "").lower()
    return None if not text or any(marker in text for marker in UNSURE_MARKERS) else False


def symbol_lookup(app: Flask) -> SymbolLookup:
    """Confirm symbols a socket asks for with the providers (through the cache); nothing is stored."""

    def lookup(symbols: list[str]) -> dict[str, bool | None]:
        from tasks.pipeline import get_manager  # the providers, only once a lookup is needed

        results = get_manager(app).get_asset_data(symbols)
        return {symbol: None if (result := results.get(symbol)) is None else
                symbol_verdict(result.success, result.error) for symbol in symbols}

    return lookup


def attach_feed(app: Flask) -> FeedControl:
    """Register the FeedControl (and, in Celery mode, the Celery app) on `app`."""
    control: FeedControl
    app.extensions[LOOKUP_EXTENSION] = symbol_lookup(app)
    if get_settings(app).embedded:
        control = EmbeddedFeedControl(app)
    else:
        _celery(app)
        control = CeleryFeedControl(app)
    app.extensions[FEED_CONTROL_EXTENSION] = control
    return control
