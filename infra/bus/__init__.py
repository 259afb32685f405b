"""Publish/subscribe: one small interface (infra.bus.base), Redis pub/sub across processes or in-process for one.

One module per backend: infra.bus.memory (embedded mode), infra.bus.redis_bus (Redis). This package
re-exports the public names, which `infra.bus` used to hold.
"""

from __future__ import annotations

from flask import Flask

from infra.bus.base import Bus, BusError, BusMessage, Listener
from infra.bus.memory import InMemoryBus, InMemoryListener
from infra.bus.redis_bus import RedisBus, RedisListener
from infra.extension import attach, lookup
from infra.settings import get_settings

__all__ = [
    "EXTENSION_KEY", "Bus", "BusError", "BusMessage", "InMemoryBus", "InMemoryListener", "Listener", "RedisBus",
    "RedisListener", "create_bus", "get_bus", "init_bus",
]

EXTENSION_KEY = "pricewire.bus"


def create_bus(redis_url: str | None, prefix: str = "pricewire") -> Bus:
    """Redis when a URL is given, else the in-process bus."""
    return RedisBus(redis_url, prefix) if redis_url else InMemoryBus()


def init_bus(app: Flask) -> Bus:
    """Attach the configured bus to `app`."""
    settings = get_settings(app)
    return attach(app, EXTENSION_KEY, create_bus(settings.redis_url, settings.redis_key_prefix))


def get_bus(app: Flask | None = None) -> Bus:
    """The bus of `app`, or of the current app."""
    return lookup(EXTENSION_KEY, Bus, app)  # type: ignore[type-abstract]  # mypy#4717
