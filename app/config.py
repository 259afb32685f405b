"""Configuration read from the environment, in one place, with the reference's names and defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.redis_connect import is_sentinel, parse_sentinel_url, redacted, sentinel_url
from models.clock import parse_instant

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"

SOURCE_NAMES = ("yahoo_finance", "alpha_vantage", "finnhub", "simulated")

# name -> (default, minimum); every value must be a whole number at least the minimum.
INT_SETTINGS: dict[str, tuple[int, int]] = {
    "REALTIME_UPDATE_INTERVAL": (30, 1),
    "REALTIME_BATCH_SIZE": (50, 1),
    "REALTIME_CACHE_TIMEOUT": (300, 0),
    "REALTIME_MAX_WORKERS": (2, 1),
    "WEBSOCKET_TIMEOUT": (300, 1),
    "WEBSOCKET_MAX_CONNECTIONS_PER_USER": (5, 1),
    "WEBSOCKET_MAX_SUBSCRIPTIONS_PER_CONNECTION": (50, 1),
    "WEBSOCKET_MESSAGE_SIZE_LIMIT": (1024, 64),
    "WEBSOCKET_RATE_LIMIT_MESSAGES_PER_MINUTE": (60, 1),
    "WEBSOCKET_MAX_FEED_REQUESTS_PER_USER": (50, 0),  # new symbols a user's sockets may add to the feed / 10 min
    "FEED_MAX_REQUESTED_SYMBOLS": (2000, 0),  # symbols tracked at once because sockets asked (held ones not counted)
    "WEBSOCKET_HEARTBEAT_INTERVAL": (25, 1),
    "WEBSOCKET_PONG_TIMEOUT": (10, 1),
    "WEBSOCKET_SEND_QUEUE_SIZE": (256, 8),
    "WEBSOCKET_RESUME_BUFFER_SIZE": (100, 0),
    "WEBSOCKET_SEND_TIMEOUT": (10, 1),
    "WEBSOCKET_BUS_PROBE_INTERVAL": (5, 1),
    "WEBSOCKET_GC_FREEZE_INTERVAL": (10, 0),
    "WEBSOCKET_GC_COLLECT_INTERVAL": (3600, 0),
    "DATA_STALE_AFTER_SECONDS": (300, 1),
    "HISTORY_RETENTION_DAYS": (400, 0),  # 0 = keep every row
    "MAX_CONTENT_LENGTH": (1 << 20, 1024),  # bytes of a request body; more is 413 before anything reads it
    "PORTFOLIO_SIGNIFICANT_CHANGE_PERCENT": (1, 0),
    "PORT": (8000, 1),
    "SIMULATED_SEED": (42, 0),
    "SIMULATED_LATENCY_MS": (0, 0),
    "MARKET_DATA_TIMEOUT": (10, 1),
    "MARKET_DATA_RETRIES": (2, 0),
    "MARKET_DATA_BREAKER_THRESHOLD": (5, 1),
    "MARKET_DATA_BREAKER_RESET_SECONDS": (60, 1),
    "MARKET_DATA_COOLDOWN_SECONDS": (60, 1),
    "MARKET_DATA_MAX_CLOCK_SKEW": (300, 0),
    # Requests per day, shared by every worker (0 = no daily quota); Alpha Vantage's free key allows 25.
    "YAHOO_FINANCE_DAILY_LIMIT": (0, 0),
    "ALPHA_VANTAGE_DAILY_LIMIT": (25, 0),
    "FINNHUB_DAILY_LIMIT": (0, 0),
    "YAHOO_FINANCE_SESSION_TTL": (3600, 60),  # seconds a negotiated cookie+crumb is reused
    "CELERY_VISIBILITY_TIMEOUT": (0, 0),  # seconds; 0 = derived from the interval (tasks/celery_app.py)
    # Proxies in front of the app whose X-Forwarded-For/-Proto/-Host it believes (werkzeug's ProxyFix); 0 = none.
    "PROXY_FIX_X_FOR": (0, 0),
    "PROXY_FIX_X_PROTO": (0, 0),
    "PROXY_FIX_X_HOST": (0, 0),
}

# name -> (None, minimum): unset or blank is None, i.e. the provider's own value (its adapter's class default).
OPTIONAL_INT_SETTINGS: dict[str, tuple[None, int]] = {
    "YAHOO_FINANCE_RATE_LIMIT": (None, 0),
    "ALPHA_VANTAGE_RATE_LIMIT": (None, 0),
    "FINNHUB_RATE_LIMIT": (None, 0),
    "SIMULATED_RATE_LIMIT": (None, 0),
}

STRING_SETTINGS: dict[str, str | None] = {
    "YAHOO_FINANCE_API_KEY": None,
    "ALPHA_VANTAGE_API_KEY": None,
    "FINNHUB_API_KEY": None,
    # None = the provider's own host (its adapter's class default).
    "YAHOO_FINANCE_BASE_URL": None,
    "ALPHA_VANTAGE_BASE_URL": None,
    "FINNHUB_BASE_URL": None,
    "YAHOO_FINANCE_COOKIE_URL": "https://fc.yahoo.com",
    "FINNHUB_PLAN": "free",
    "SIMULATED_FAIL_SYMBOLS": "",
    "REDIS_KEY_PREFIX": "pricewire",
    "LOG_DIR": None,
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "json",
    # limits' notation ("10 per 15 minutes", "5/minute"; several separated by ";"), checked at start-up.
    "LOGIN_RATE_LIMIT_PER_ACCOUNT": "10 per 15 minutes",  # failed logins of one username
    "LOGIN_RATE_LIMIT_PER_ADDRESS": "60 per 15 minutes",  # login attempts from one client address
}

BOOL_SETTINGS: dict[str, bool] = {
    "WEBSOCKET_COMPRESSION": False,
    "SESSION_COOKIE_SECURE": False,
    "REALTIME_FETCH_WHEN_CLOSED": False,  # True: the feed polls closed markets too (docs/feed.md)
}


class ConfigError(SystemExit):
    """A setting has a bad value; start-up stops with a message naming it."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        self.name = name
        super().__init__(f"Configuration error: {name}={value!r} is invalid: {expected}.")


def parse_int(name: str, raw: str, minimum: int) -> int:
    """A whole number at least `minimum`, or ConfigError naming the variable."""
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(name, raw, f"expected a whole number >= {minimum}") from None
    if value < minimum:
        raise ConfigError(name, raw, f"expected a whole number >= {minimum}")
    return value


def parse_bool(name: str, raw: str) -> bool:
    """true/false in the usual spellings."""
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(name, raw, "expected true or false")


def parse_priorities(raw: str) -> dict[str, int]:
    """`yahoo_finance:1,alpha_vantage:2` -> {"yahoo_finance": 1, "alpha_vantage": 2}."""
    name = "MARKET_DATA_SOURCE_PRIORITIES"
    priorities: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        source, sep, rank = item.partition(":")
        source = source.strip()
        if source not in SOURCE_NAMES:
            raise ConfigError(name, raw, f"unknown source {source!r}; known: {', '.join(SOURCE_NAMES)}")
        if source in priorities:
            raise ConfigError(name, raw, f"{source} is listed twice")
        priorities[source] = parse_int(name, rank, 1) if sep else len(priorities) + 1
    if not priorities:
        raise ConfigError(name, raw, "name at least one source, e.g. simulated:1")
    return priorities


def parse_rate_limit(name: str, raw: str) -> str:
    """A rate limit in the limits library's notation, e.g. "10 per 15 minutes"."""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(name, raw, 'expected a rate such as "10 per 15 minutes"') from None
    return raw


def parse_clock(raw: str) -> datetime | None:
    """MARKET_CLOCK: blank for the real time, or the ISO-8601 instant the market clock stands at."""
    if not raw.strip():
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise ConfigError("MARKET_CLOCK", raw, "an ISO-8601 instant with a zone, e.g. 2026-11-28T15:00Z") from None


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` forms hosts hand out; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def parse_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins, normalized without a trailing slash."""
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


def redis_url(env: Mapping[str, str]) -> str | None:
    """REDIS_URL (redis://, or redis+sentinel://...), or one built from REDIS_SENTINELS and REDIS_SENTINEL_MASTER."""
    url = (env.get("REDIS_URL") or "").strip()
    sentinels = (env.get("REDIS_SENTINELS") or "").strip()
    master = (env.get("REDIS_SENTINEL_MASTER") or "").strip()
    if sentinels or master:
        if url:
            raise ConfigError("REDIS_SENTINELS", sentinels, "set either REDIS_URL or REDIS_SENTINELS, not both")
        if not (sentinels and master):
            raise ConfigError("REDIS_SENTINEL_MASTER", master, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
        url = sentinel_url(sentinels, master)
    if is_sentinel(url):
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            raise ConfigError("REDIS_URL", redacted(url), str(exc)) from None
    return url or None


def cluster_url(env: Mapping[str, str]) -> str | None:
    """REDIS_CLUSTER_URL: any node of a Redis Cluster that carries the bus; needs REDIS_URL for everything else."""
    url = (env.get("REDIS_CLUSTER_URL") or "").strip()
    if url and not url.startswith(("redis://", "rediss://")):
        raise ConfigError("REDIS_CLUSTER_URL", redacted(url), "expected redis://host:port of any cluster node")
    if url and not (env.get("REDIS_URL") or env.get("REDIS_SENTINELS")):
        raise ConfigError("REDIS_CLUSTER_URL", redacted(url),
                          "set REDIS_URL too (Celery's broker, locks and limits live there)")
    return url or None


def _secret_key(instance_path: Path) -> str:
    """A per-checkout secret kept under instance/, so sessions survive a restart of `make run`."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_config(environ: Mapping[str, str] | None = None, instance_path: Path | None = None) -> dict[str, Any]:
    """Read every setting from `environ` (default: os.environ), validating as it goes."""
    env = os.environ if environ is None else environ
    instance = instance_path or Path(env.get("PRICEWIRE_INSTANCE_PATH", DEFAULT_INSTANCE_PATH))
    config: dict[str, Any] = {"INSTANCE_PATH": str(instance)}
    readers: list[tuple[Mapping[str, Any], Callable[[str, str, Any], Any]]] = [
        (INT_SETTINGS, lambda name, raw, spec: parse_int(name, raw, spec[1])),
        (OPTIONAL_INT_SETTINGS, lambda name, raw, spec: parse_int(name, raw, spec[1]) if raw.strip() else None),
        (STRING_SETTINGS, lambda name, raw, spec: raw.strip() or spec),
        (BOOL_SETTINGS, lambda name, raw, spec: parse_bool(name, raw)),
    ]
    for table, read in readers:
        for name, spec in table.items():
            raw = env.get(name)
            default = spec[0] if isinstance(spec, tuple) else spec
            config[name] = default if raw is None else read(name, raw, spec)

    for name in ("LOGIN_RATE_LIMIT_PER_ACCOUNT", "LOGIN_RATE_LIMIT_PER_ADDRESS"):
        config[name] = parse_rate_limit(name, config[name])

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'pricewire.db'}"
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(database_url)
    config["REDIS_URL"] = redis_url(env)
    config["REDIS_CLUSTER_URL"] = cluster_url(env)
    config["EMBEDDED"] = config["REDIS_URL"] is None
    config["MARKET_DATA_SOURCE_PRIORITIES"] = parse_priorities(
        env.get("MARKET_DATA_SOURCE_PRIORITIES") or "simulated:1"
    )
    config["MARKET_CLOCK"] = parse_clock(env.get("MARKET_CLOCK", ""))
    config["WEBSOCKET_ALLOWED_ORIGINS"] = parse_origins(env.get("WEBSOCKET_ALLOWED_ORIGINS", ""))
    config["SECRET_KEY"] = env.get("SECRET_KEY") or _secret_key(instance)
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["REMEMBER_COOKIE_HTTPONLY"] = True
    config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    return config
