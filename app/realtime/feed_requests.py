"""Ask the price feed to track what sockets subscribe to."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import gevent
import redis
from flask import Flask

from infra.feed_status import request_symbols

logger = logging.getLogger("pricewire.websocket")

REQUEST_TIMEOUT = 1.0  # seconds; a frozen Redis must not stall a subscribe (redis-py alone waits 5 s)


def ask_feed_for(app: Flask, symbols: Iterable[str]) -> None:
    """Have the feed track subscribed symbols even when no portfolio or watchlist holds them."""
    timer = gevent.Timeout(REQUEST_TIMEOUT)
    timer.start()
    try:
        request_symbols(symbols, app)
    except (redis.RedisError, OSError) as exc:  # a subscription must not fail on this
        logger.info("could not request symbols from the feed", extra={"error": str(exc)})
    except gevent.Timeout as exc:
        if exc is not timer:
            raise
        logger.info("could not request symbols from the feed", extra={"error": "timed out"})
    finally:
        timer.close()
