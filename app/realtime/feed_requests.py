"""Ask the price feed to track what sockets subscribe to."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
from flask import Flask

from models.feed_status import request_symbols

logger = logging.getLogger("pricewire.websocket")


def ask_feed_for(app: Flask, symbols: Iterable[str]) -> None:
    """Have the feed track subscribed symbols even when no portfolio or watchlist holds them."""
    try:
        request_symbols(symbols, app)
    except (redis.RedisError, OSError) as exc:  # a subscription must not fail on this
        logger.info("could not request symbols from the feed", extra={"error": str(exc)})
