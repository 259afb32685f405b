"""Typed accessors over a full config mapping; the defaults live in app/config.py, not here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["setting", "setting_float", "setting_int", "setting_optional_int", "setting_symbols"]


def setting(config: Mapping[str, Any], key: str) -> Any:
    """Return ``config[key]``; a missing key is a ValueError naming it (the config is incomplete)."""
    try:
        return config[key]
    except KeyError:
        raise ValueError(
            f"{key} is missing from the config; app.config.load_config provides every market-data setting"
        ) from None


def setting_int(config: Mapping[str, Any], key: str, minimum: int = 0) -> int:
    """Return an integer setting, accepting numeric strings; ValueError names the key."""
    raw = setting(config, key)
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None
    if isinstance(raw, bool) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {raw!r}")
    return value


def setting_optional_int(config: Mapping[str, Any], key: str, minimum: int = 0) -> int | None:
    """Like ``setting_int``, but None stays None (the adapter then uses its class default)."""
    return None if setting(config, key) is None else setting_int(config, key, minimum)


def setting_float(config: Mapping[str, Any], key: str) -> float:
    """Return a non-negative number setting, accepting numeric strings."""
    raw = setting(config, key)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number, got {raw!r}") from None
    if isinstance(raw, bool) or not value >= 0:  # also rejects NaN
        raise ValueError(f"{key} must be a number >= 0, got {raw!r}")
    return value


def setting_symbols(config: Mapping[str, Any], key: str) -> frozenset[str]:
    """Return a symbol set from a comma-separated string or an iterable of strings."""
    raw = setting(config, key) or ""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return frozenset(str(item).strip().upper() for item in items if str(item).strip())
