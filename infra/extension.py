"""Per-app singletons in `app.extensions`, typed: what init_bus, init_feed_status and init_settings share."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Flask, current_app

T = TypeVar("T")


def attach(app: Flask, key: str, value: T) -> T:
    """Keep `value` on `app` under `key`; returns it."""
    app.extensions[key] = value
    return value


def lookup(key: str, kind: type[T], app: Flask | None = None) -> T:
    """The `kind` kept under `key` on `app` (default: the current app); TypeError for anything else."""
    value: Any = (app or current_app).extensions[key]
    if not isinstance(value, kind):
        raise TypeError(f"app.extensions[{key!r}] is a {type(value).__name__}, not a {kind.__name__}")
    return value
