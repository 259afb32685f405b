"""Greenlets spawned by the realtime package, counted so a leak shows in stats and tests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gevent

logger = logging.getLogger("pricewire.realtime")

_live: set[gevent.Greenlet] = set()


def spawn(function: Callable[..., Any], *args: Any, name: str = "") -> gevent.Greenlet:
    """Start `function(*args)` in a tracked greenlet; an unexpected exception is logged, not lost."""

    def run() -> Any:
        try:
            return function(*args)
        except gevent.GreenletExit:
            raise
        except Exception:
            logger.exception("realtime task failed", extra={"task": name or getattr(function, "__name__", "?")})
            return None

    greenlet = gevent.spawn(run)
    greenlet.name = name or getattr(function, "__name__", "task")
    _live.add(greenlet)
    greenlet.link(_live.discard)
    return greenlet


def live_tasks() -> int:
    """Tracked greenlets still running."""
    return len(_live)
