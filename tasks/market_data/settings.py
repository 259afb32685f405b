"""Default settings for market data and typed accessors over a config mapping."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MARKET_DATA_DEFAULTS", "setting", "setting_float", "setting_int", "setting_symbols"]

#: Defaults for every key this package reads; app/config.py merges these into app.config.
MARKET_DATA_DEFAULTS: dict[str, Any] = {
    "MARKET_DATA_SOURCE_PRIORITIES": {"simulated": 1},
    "YAHOO_FINANCE_API_KEY": None,
    "ALPHA_VANTAGE_API_KEY": None,
    "FINNHUB_API_KEY": None,
    "YAHOO_FINANCE_BASE_URL": "https://query1.finance.yahoo.com",
    "ALPHA_VANTAGE_BASE_URL": "https://www.alphavantage.co",
    "FINNHUB_BASE_URL": "https://finnhub.io",
    "YAHOO_FINANCE_RATE_LIMIT": 100,
    "ALPHA_VANTAGE_RATE_LIMIT": 5,
    "FINNHUB_RATE_LIMIT": 60,
    "SIMULATED_RATE_LIMIT": 0,
    "REALTIME_CACHE_TIMEOUT": 300,
    "SIMULATED_SEED": 42,
    "SIMULATED_FAIL_SYMBOLS": "",
    "SIMULATED_LATENCY_MS": 0,
    "MARKET_DATA_TIMEOUT": 10,
    # Retries for transient errors only (connection, timeout, 5xx) and their base backoff.
    "MARKET_DATA_RETRIES": 2,
    "MARKET_DATA_RETRY_BACKOFF": 0.5,
    # Consecutive source failures that open the breaker, and seconds before it half-opens.
    "MARKET_DATA_BREAKER_THRESHOLD": 5,
    "MARKET_DATA_BREAKER_RESET_SECONDS": 60,
    # Cool-down after a throttle response that gives no Retry-After.
    "MARKET_DATA_COOLDOWN_SECONDS": 60,
    # Quote timestamps further than this in the future are rejected as garbage.
    "MARKET_DATA_MAX_CLOCK_SKEW": 300,
}


def setting(config: Mapping[str, Any], key: str) -> Any:
    """Return ``config[key]`` unless missing or None, else the package default."""
    value = config.get(key)
    return MARKET_DATA_DEFAULTS.get(key) if value is None else value


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
