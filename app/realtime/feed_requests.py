"""Ask the price feed to track what sockets subscribe to: only symbols that exist, within caps.

A symbol already in `assets` is fine. Any other is confirmed by a provider lookup (tasks.wiring
registers it) and counts against WEBSOCKET_MAX_FEED_REQUESTS_PER_USER and FEED_MAX_REQUESTED_SYMBOLS;
a symbol no provider knows is refused and remembered as unknown for an hour (negative caching).
Nothing is stored for a refused symbol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import gevent
import redis
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from infra.feed_status import get_feed_status, request_symbols
from infra.settings import get_settings
from infra.symbol_requests import LOOKUP_EXTENSION, SymbolLookup, SymbolRequests
from models import Asset

logger = logging.getLogger("pricewire.websocket")

REQUEST_TIMEOUT = 1.0  # seconds; a frozen Redis must not stall a subscribe (redis-py alone waits 5 s)
STORE_KEY = "pricewire.symbol_requests"
T = TypeVar("T")


@dataclass
class Admission:
    """What a subscribe may go ahead with, and the errors to tell the client."""

    accepted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _bounded(what: str, call: Callable[[], T], timeout: float, fallback: T) -> T:
    """`call()` within `timeout` s; `fallback` (logged) when Redis or the provider fails or is slow."""
    timer = gevent.Timeout(timeout)
    timer.start()
    try:
        return call()
    except (redis.RedisError, OSError) as exc:
        logger.info(f"could not {what}", extra={"error": str(exc)})
    except gevent.Timeout as exc:
        if exc is not timer:
            raise
        logger.info(f"could not {what}", extra={"error": "timed out"})
    finally:
        timer.close()
    return fallback


def ask_feed_for(app: Flask, symbols: Iterable[str]) -> None:
    """Have the feed track subscribed symbols even when no portfolio or watchlist holds them."""
    wanted = list(symbols)
    if wanted:
        _bounded("request symbols from the feed", lambda: request_symbols(wanted, app), REQUEST_TIMEOUT, 0)


def symbol_requests(app: Flask) -> SymbolRequests:
    """The app's admission store (Redis in Celery mode, this process in embedded mode)."""
    store: SymbolRequests | None = app.extensions.get(STORE_KEY)
    if store is None:
        store = SymbolRequests(get_feed_status(app).client, get_settings(app).redis_key_prefix)
        app.extensions[STORE_KEY] = store
    return store


def known_symbols(symbols: list[str]) -> set[str]:
    """Which of `symbols` are in `assets` (one query)."""
    try:
        return set(db.session.scalars(select(Asset.symbol).where(Asset.symbol.in_(symbols))))
    finally:
        db.session.remove()


def _lookup(app: Flask, symbols: list[str]) -> dict[str, bool | None]:
    lookup: SymbolLookup | None = app.extensions.get(LOOKUP_EXTENSION)
    if lookup is None or not symbols:
        return dict.fromkeys(symbols)
    timeout = float(get_settings(app).market_data_timeout) * 2
    return _bounded("look symbols up", lambda: lookup(symbols), timeout, dict.fromkeys(symbols))


def admit_symbols(app: Flask, user_id: int, symbols: list[str], track: bool = True, *,
                  known_of: Callable[[list[str]], set[str]] = known_symbols,
                  ask: Callable[[list[str]], None] | None = None) -> Admission:
    """Decide which of `symbols` `user_id` may have the feed fetch; with `track`, ask the feed to track them.

    `known_of` and `ask` default to a query and a request of this caller's own; the relay passes its shared ones.
    """
    admission = Admission()
    request = ask or (lambda wanted: ask_feed_for(app, wanted))
    known = known_of(symbols)
    others = [symbol for symbol in symbols if symbol not in known]
    if not others:  # the common case: nothing to look up or count
        admission.accepted = list(symbols)
        if track:
            request(admission.accepted)
        return admission
    store = symbol_requests(app)
    none: set[str] = set()
    cached = _bounded("read unknown symbols", lambda: store.unknown(others), REQUEST_TIMEOUT, none)
    verdicts = _lookup(app, [symbol for symbol in others if symbol not in cached])
    unknown = sorted(cached | {symbol for symbol, exists in verdicts.items() if exists is False})
    unsure = sorted(symbol for symbol, exists in verdicts.items() if exists is None)
    confirmed = [symbol for symbol, exists in verdicts.items() if exists]
    not_found = [symbol for symbol, exists in verdicts.items() if exists is False]
    _bounded("remember unknown symbols", lambda: store.remember_unknown(not_found), REQUEST_TIMEOUT, None)
    settings = get_settings(app)
    per_user, global_cap = settings.websocket_max_feed_requests_per_user, settings.feed_max_requested_symbols
    nothing: tuple[list[str], int] = ([], len(confirmed))  # Redis away: confirmed but uncounted symbols wait
    accepted, refused = _bounded("count feed requests", lambda: store.admit(user_id, confirmed, per_user, global_cap),
                                 REQUEST_TIMEOUT, nothing)
    if unknown:
        admission.errors.append(f"unknown symbol: {', '.join(unknown)}")
    if unsure:
        admission.errors.append(f"could not confirm symbol: {', '.join(unsure)}; try again later")
    if refused:
        admission.errors.append(f"feed request limit reached: {refused} new symbol(s) refused (at most {per_user} "
                                "new symbols per user in 10 minutes, and the feed's total is capped)")
    admission.accepted = [symbol for symbol in symbols if symbol in known or symbol in accepted]
    if track:
        request(admission.accepted)
    return admission

