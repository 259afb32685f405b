"""Real-time service status, the caller's WebSocket connections, and the connection debug helper."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app.api import blueprint, monitoring
from app.api.market_health import market_freshness, open_markets_fresh
from app.api.monitoring import connection_stats, data_freshness, epoch_to_iso, feed_status, json_response
from app.extensions import login_required
from infra.bus import get_bus
from infra.feed_status import heartbeat_grace
from infra.settings import get_settings
from protocol.wire import iso

logger = logging.getLogger("pricewire.realtime")

WEBSOCKET_PATH = "/ws/realtime/"


@blueprint.get("/api/realtime/status")
@login_required
def realtime_status() -> Response:
    """Feed status, cluster connection statistics and data freshness."""
    return json_response({
        "timestamp": iso(datetime.now(UTC)),
        "price_feed": feed_status(),
        "connections": connection_stats(),
        "data_freshness": data_freshness(),
        "markets": market_freshness(),
    })


def _user_connections(user_id: int) -> list[dict[str, Any]]:
    items = monitoring.connection_manager().get_user_connections(user_id)
    return [{**item, "connected_at": epoch_to_iso(item.get("connected_at"))} for item in items]


@blueprint.get("/api/realtime/connections")
@login_required
def my_connections() -> Response:
    """The caller's open WebSocket connections, across every process."""
    try:
        connections = _user_connections(current_user.id)
    except Exception as exc:  # e.g. Redis down: say so instead of a bare 500
        logger.warning("user connections unavailable", extra={"error": str(exc), "user_id": current_user.id})
        return json_response({"error": "connection information unavailable"}, 503)
    return json_response({
        "user_id": current_user.id,
        "count": len(connections),
        "max_connections": get_settings().websocket_max_connections_per_user,
        "connections": connections,
    })


def _endpoint_registered() -> bool:
    try:
        # The ws scheme matches only WebSocket rules, not the plain-HTTP "upgrade required" answer.
        current_app.url_map.bind("localhost", url_scheme="ws").match(WEBSOCKET_PATH, method="GET")
    except HTTPException:
        return False
    return True


def _open_connection_count() -> int | None:
    if not current_user.is_authenticated:
        return None
    try:
        return len(_user_connections(current_user.id))
    except Exception:  # unknown count: the check then rests on the route alone
        return None


def recommendations(checks: dict[str, bool], details: dict[str, Any]) -> list[str]:
    """One human sentence per failed check, saying what to do."""
    advice: list[str] = []
    if not checks["user_authenticated"]:
        advice.append("Log in first (POST /auth/login): the WebSocket refuses sessions without a user "
                      "and closes with code 4401.")
    if not checks["websocket_endpoint_accessible"]:
        if not details["endpoint_registered"]:
            advice.append(f"The WebSocket route {WEBSOCKET_PATH} is not registered in this server process: "
                          "serve wsgi:app with gunicorn -k gevent (or python wsgi.py), not a plain WSGI server.")
        else:
            advice.append(f"You already have {details['open_connections']} open connections, the limit is "
                          f"{details['max_connections']}: close other tabs or clients, new sockets get code 4429.")
    if not checks["redis_connection"]:
        advice.append("The message bus does not answer: check that Redis at REDIS_URL is running and "
                      "reachable from the web server; live updates stop until it is back.")
    if not checks["price_feed_running"]:
        interval = details["update_interval"]
        advice.append(f"The price feed has sent no heartbeat for more than {heartbeat_grace(interval):g} s: start "
                      "the Celery worker and beat (see README), or restart the embedded server.")
    if not checks["data_fresh"]:
        stale = details["stale_markets"]
        if details["seconds_since_update"] is None:
            stored = "No prices are stored yet"
        else:
            stored = "An open market has stale prices: " + ", ".join(
                f"{mic}'s newest is {age} s old" if age is not None else f"{mic} has none"
                for mic, age in stale.items())
        advice.append(f"{stored} (limit {details['stale_after_seconds']} s): check failed_symbols and "
                      "failures_by_source in GET /api/realtime/status and the provider API keys.")
    return advice


@blueprint.get("/api/realtime/debug")
def realtime_debug() -> Response:
    """The reference's troubleshooting helper for the caller's WebSocket problems (works logged out too)."""
    feed = feed_status()
    freshness = data_freshness()
    markets = market_freshness()
    open_connections = _open_connection_count()
    max_connections = get_settings().websocket_max_connections_per_user
    details: dict[str, Any] = {
        "websocket_path": WEBSOCKET_PATH,
        "endpoint_registered": _endpoint_registered(),
        "open_connections": open_connections,
        "max_connections": max_connections,
        "bus": "in-process" if get_settings().embedded else "redis",
        "update_interval": get_settings().realtime_update_interval,
        "last_update": None if freshness is None else freshness["last_update"],
        "seconds_since_update": None if freshness is None else freshness["seconds_since_update"],
        "stale_after_seconds": get_settings().data_stale_after_seconds,
        # Open markets whose freshest tracked price is stale, with its age (closed markets never count).
        "stale_markets": {mic: entry["age_seconds"] for mic, entry in (markets or {}).items()
                          if entry["open"] and entry["stale"]},
    }
    checks = {
        "user_authenticated": bool(current_user.is_authenticated),
        "websocket_endpoint_accessible": details["endpoint_registered"]
        and (open_connections is None or open_connections < max_connections),
        "redis_connection": get_bus().ping(),
        "price_feed_running": bool(feed.get("running")),
        "data_fresh": freshness is not None and open_markets_fresh(markets),
    }
    return json_response({
        "debug_info": checks,
        "recommendations": recommendations(checks, details),
        "details": details,
    })
