"""The settings as one typed, frozen object, built once per app from the validated configuration.

app/config.py reads and validates the environment (its tables name every variable and its default);
`init_settings` turns the result into `Settings`, which code takes as `get_settings(app)` instead of
reading `app.config["..."]` by string key. tests/infra/test_settings.py keeps the two complete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from flask import Flask

from infra.extension import attach, lookup

EXTENSION_KEY = "pricewire.settings"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting, typed; a field is its environment variable in lower case."""

    realtime_update_interval: int
    realtime_batch_size: int
    realtime_cache_timeout: int
    realtime_max_workers: int
    websocket_timeout: int
    websocket_max_connections_per_user: int
    websocket_max_subscriptions_per_connection: int
    websocket_message_size_limit: int
    websocket_rate_limit_messages_per_minute: int
    websocket_heartbeat_interval: int
    websocket_pong_timeout: int
    websocket_max_feed_requests_per_user: int
    feed_max_requested_symbols: int
    max_content_length: int
    websocket_send_queue_size: int
    websocket_resume_buffer_size: int
    websocket_send_timeout: int
    websocket_bus_probe_interval: int
    websocket_gc_freeze_interval: int
    websocket_gc_collect_interval: int
    data_stale_after_seconds: int
    history_retention_days: int
    portfolio_significant_change_percent: int
    port: int
    simulated_seed: int
    simulated_latency_ms: int
    market_data_timeout: int
    market_data_retries: int
    market_data_breaker_threshold: int
    market_data_breaker_reset_seconds: int
    market_data_cooldown_seconds: int
    market_data_max_clock_skew: int
    proxy_fix_x_for: int
    proxy_fix_x_proto: int
    proxy_fix_x_host: int
    yahoo_finance_daily_limit: int
    alpha_vantage_daily_limit: int
    finnhub_daily_limit: int
    yahoo_finance_session_ttl: int
    celery_visibility_timeout: int
    yahoo_finance_rate_limit: int | None
    alpha_vantage_rate_limit: int | None
    finnhub_rate_limit: int | None
    simulated_rate_limit: int | None
    yahoo_finance_api_key: str | None
    alpha_vantage_api_key: str | None
    finnhub_api_key: str | None
    yahoo_finance_base_url: str | None
    alpha_vantage_base_url: str | None
    finnhub_base_url: str | None
    yahoo_finance_cookie_url: str
    finnhub_plan: str
    simulated_fail_symbols: str
    redis_key_prefix: str
    log_dir: str | None
    log_level: str
    log_format: str
    login_rate_limit_per_account: str
    login_rate_limit_per_address: str
    websocket_compression: bool
    session_cookie_secure: bool
    realtime_fetch_when_closed: bool
    instance_path: str
    redis_url: str | None
    redis_cluster_url: str | None
    embedded: bool
    market_data_source_priorities: dict[str, int]
    websocket_allowed_origins: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings out of a validated configuration (app.config): each field from its upper-case key."""
        return cls(**{field.name: config[field.name.upper()] for field in dataclasses.fields(cls)})

    def as_config(self) -> dict[str, Any]:
        """Upper-case keys and values, for the code that still reads `app.config`."""
        return {field.name.upper(): getattr(self, field.name) for field in dataclasses.fields(self)}


def init_settings(app: Flask) -> Settings:
    """Build the app's settings once, from its configuration."""
    return attach(app, EXTENSION_KEY, Settings.from_config(app.config))


def get_settings(app: Flask | None = None) -> Settings:
    """The settings of `app`, or of the current app."""
    return lookup(EXTENSION_KEY, Settings, app)


def update_settings(app: Flask, **changes: Any) -> Settings:
    """New settings with `changes` (e.g. `flask feed start --interval`), mirrored into app.config."""
    settings = attach(app, EXTENSION_KEY, dataclasses.replace(get_settings(app), **changes))
    app.config.update({name.upper(): value for name, value in changes.items()})
    return settings
