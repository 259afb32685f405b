"""Readiness in the reference's shape (/health) and Prometheus metrics (/metrics); no auth: protect at the proxy."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.api import blueprint
from app.api.health import _database_ok
from app.api.market_health import market_freshness, open_markets_fresh
from app.extensions import db
from infra.bus import get_bus
from infra.feed_status import get_feed_status
from infra.settings import get_settings
from models.market import Quote
from protocol.wire import dumps, iso

logger = logging.getLogger("pricewire.realtime")

CONNECTION_FIELDS = ("total_connections", "authenticated_users", "asset_subscriptions", "portfolio_subscriptions")


def json_response(payload: Any, status: int = 200) -> Response:
    """JSON with exact Decimals and ISO datetimes (protocol.wire.dumps); never cached."""
    response = current_app.response_class(dumps(payload), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def epoch_to_iso(value: Any) -> Any:
    """Epoch seconds (as the connection manager reports times) as ISO-8601 UTC; anything else unchanged."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso(datetime.fromtimestamp(value, UTC))
    return value


def connection_manager() -> Any:
    """The WebSocket connection manager (imported late: app.realtime composes on top of the API)."""
    from app.realtime import ConnectionManager

    return ConnectionManager()


def feed_status() -> dict[str, Any]:
    """The feed's service status; running=False with an error when its store does not answer."""
    interval = get_settings().realtime_update_interval
    try:
        return get_feed_status().service_status(interval)
    except Exception as exc:  # a dead Redis must degrade the answer, not fail it
        logger.warning("feed status unavailable", extra={"error": str(exc)})
        return {"running": False, "update_interval": interval, "error": f"feed status unavailable: {exc}"}


def connection_stats() -> dict[str, Any]:
    """Cluster-wide connection and subscription counts; None counts with an error when unavailable."""
    try:
        manager = connection_manager()
        return {
            "total_connections": manager.get_connection_count(),
            "authenticated_users": manager.get_authenticated_user_count(),
            "asset_subscriptions": manager.get_total_asset_subscriptions(),
            "portfolio_subscriptions": manager.get_total_portfolio_subscriptions(),
        }
    except Exception as exc:  # counts are informative; their absence must not fail a probe
        logger.warning("connection stats unavailable", extra={"error": str(exc)})
        return {**dict.fromkeys(CONNECTION_FIELDS), "error": f"connection stats unavailable: {exc}"}


def newest_quote_time() -> datetime | None:
    """When the most recently updated quote was stored (None without quotes or database)."""
    try:
        return db.session.scalar(select(Quote.last_updated).order_by(Quote.last_updated.desc()).limit(1))
    except SQLAlchemyError:
        db.session.rollback()
        return None


def data_freshness(now: datetime | None = None) -> dict[str, Any] | None:
    """The reference's data_freshness: last_update, seconds_since_update, is_stale; None without data."""
    newest = newest_quote_time()
    if newest is None:
        return None
    limit = get_settings().data_stale_after_seconds
    age = ((now or datetime.now(UTC)) - newest).total_seconds()
    return {
        "last_update": iso(newest),
        "seconds_since_update": max(int(age), 0),
        "stale_after_seconds": limit,
        "is_stale": age > limit,
    }


@blueprint.get("/health")
def health() -> Response:
    """Readiness: healthy when the feed beats, database and bus answer and no open market is stale; else 503.

    Closed markets never degrade it: `services.markets` says which are open and how old each one's freshest
    price is (app/api/market_health.py).
    """
    feed = feed_status()
    freshness = data_freshness()
    markets = market_freshness()
    checks = {
        "database": _database_ok(),
        "bus": get_bus().ping(),
        "price_feed": bool(feed.get("running")),
        "data_fresh": open_markets_fresh(markets),
    }
    healthy = all(checks.values())
    body = {
        "status": "healthy" if healthy else "degraded",
        "timestamp": iso(datetime.now(UTC)),
        "checks": checks,
        "services": {
            "price_feed": feed,
            "bus": get_bus().describe(),  # with Sentinel: the master now and the failovers this process saw
            "websocket_connections": connection_stats(),
            "data_freshness": freshness,
            "markets": markets,
        },
    }
    return json_response(body, 200 if healthy else 503)


class _ScrapeTimeGauges(Collector):
    """Gauges computed per scrape (cluster totals, feed state): plain families, never per-process values."""

    CLUSTER = {
        "total_connections": ("pricewire_cluster_ws_connections", "Open WebSocket connections, all processes"),
        "authenticated_users": ("pricewire_cluster_authenticated_users", "Users with an open socket, all processes"),
        "asset_subscriptions": ("pricewire_cluster_asset_subscriptions", "Asset subscriptions, all processes"),
        "portfolio_subscriptions": (
            "pricewire_cluster_portfolio_subscriptions", "Portfolio subscriptions, all processes",
        ),
    }

    def __init__(self, feed: dict[str, Any], stats: dict[str, Any]) -> None:
        self.feed = feed
        self.stats = stats

    def collect(self) -> Any:
        """One family per figure that is known now."""
        for field, (name, help_text) in self.CLUSTER.items():
            if isinstance(self.stats.get(field), int | float):
                yield GaugeMetricFamily(name, help_text, value=self.stats[field])
        yield GaugeMetricFamily("pricewire_feed_running", "1 when the price feed's heartbeat is recent",
                                value=1 if self.feed.get("running") else 0)
        if isinstance(self.feed.get("assets_tracked"), int | float):
            yield GaugeMetricFamily("pricewire_feed_assets_tracked", "Assets the feed updates",
                                    value=self.feed["assets_tracked"])
        if isinstance(self.feed.get("portfolio_revaluation_failures"), int):
            yield CounterMetricFamily("pricewire_portfolio_revaluation_failures",
                                      "Portfolios whose revaluation failed and was skipped",
                                      value=self.feed["portfolio_revaluation_failures"])
        freshness = data_freshness()
        if freshness is not None:
            yield GaugeMetricFamily("pricewire_data_age_seconds", "Age of the newest stored quote",
                                    value=freshness["seconds_since_update"])


def _update_feed_gauges(feed: dict[str, Any]) -> None:
    """Copy the feed's last cycle duration and per-source failures into this process's gauges."""
    duration = feed.get("last_cycle_duration")
    if isinstance(duration, int | float):
        metrics.feed_cycle_duration.set(duration)
    failures = feed.get("failures_by_source")
    for source, count in (failures if isinstance(failures, dict) else {}).items():
        if isinstance(count, int | float):
            metrics.provider_errors.labels(source=str(source)).set(count)


class _Chained(Collector):
    """Several registries exposed as one, so one encoder writes a single valid document."""

    def __init__(self, *registries: Collector) -> None:
        self.registries = registries

    def collect(self) -> Any:
        """Every metric of every registry, in order."""
        for registry in self.registries:
            yield from registry.collect()


@blueprint.get("/metrics")
def prometheus_metrics() -> Response:
    """Every worker's metrics (or this process's), plus gauges computed now (cluster totals, feed state)."""
    feed = feed_status()
    _update_feed_gauges(feed)
    combined = CollectorRegistry(auto_describe=False)
    combined.register(_Chained(metrics.exposed_registry(), _ScrapeTimeGauges(feed, connection_stats())))
    # Text 0.0.4 by default, OpenMetrics when the scraper asks for it (as prometheus_client's own server does).
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(combined), content_type=content_type)
