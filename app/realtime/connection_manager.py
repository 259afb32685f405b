"""ConnectionManager: the reference's API over the relay (this process) and Redis (the cluster)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app

from app.realtime.relay import EXTENSION_KEY, Relay
from app.realtime.stats import get_cluster
from infra.bus import get_bus
from protocol.bus import bus_message
from protocol.channels import asset_channel, portfolio_channel, user_channel
from protocol.symbols import normalize_symbol

ZERO_STATS = {
    "connections": 0, "authenticated_users": 0, "asset_subscriptions": 0, "portfolio_subscriptions": 0,
    "channels": 0, "bus_state": "idle", "messages_sent": 0, "messages_dropped": 0, "greenlets": 0,
    "open_sockets": 0,
}


def _user_id(user_or_id: Any) -> int:
    value = getattr(user_or_id, "id", user_or_id)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a user or a user id, got {type(user_or_id).__name__}")
    return value


def _checked(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind, data = message.get("type") if isinstance(message, dict) else None, None
    if isinstance(message, dict):
        data = message.get("data", {})
    if not isinstance(kind, str) or not kind or kind.startswith("_"):
        raise ValueError("message needs a 'type' (not starting with '_')")
    if not isinstance(data, dict):
        raise ValueError("message 'data' must be a dict")
    return kind, data


class ConnectionManager:
    """Counts and broadcasts for WebSocket clients, usable from any process with an app context.

    Counts are cluster-wide in Redis mode (the sum of every live web process's stats key), local in
    embedded mode. Broadcasts go through the bus, so a worker or a script reaches every web process.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.app: Flask = app or current_app._get_current_object()  # type: ignore[attr-defined]

    # ---- counts ------------------------------------------------------------------------------------

    def _relay(self) -> Relay | None:
        return self.app.extensions.get(EXTENSION_KEY)

    def local_stats(self) -> dict[str, Any]:
        """This process's connection numbers (for /metrics); zeros where no socket was ever opened."""
        relay = self._relay()
        return relay.snapshot() if relay is not None else {**ZERO_STATS, "updated_at": time.time()}

    def process_stats(self) -> list[dict[str, Any]]:
        """Every live web process's stats (this process only, in embedded mode)."""
        cluster = get_cluster(self.app)
        if cluster is None:
            return [self.local_stats()] if self._relay() is not None else []
        return cluster.summaries()

    def _total(self, field: str) -> int:
        return sum(int(item.get(field) or 0) for item in self.process_stats())

    def get_connection_count(self) -> int:
        """Open WebSocket connections."""
        return self._total("connections")

    def get_authenticated_user_count(self) -> int:
        """Distinct users with at least one open connection."""
        cluster = get_cluster(self.app)
        if cluster is None:
            relay = self._relay()
            return 0 if relay is None else len(relay.router.by_user)
        return len(cluster.user_ids())

    def get_total_asset_subscriptions(self) -> int:
        """Asset subscriptions summed over connections (two sockets on AAPL count 2)."""
        return self._total("asset_subscriptions")

    def get_total_portfolio_subscriptions(self) -> int:
        """Portfolio subscriptions summed over connections."""
        return self._total("portfolio_subscriptions")

    def get_user_connections(self, user_or_id: Any) -> list[dict[str, Any]]:
        """One dict per open connection of the user.

        Keys: connection_id, subscriptions, connected_at, remote_addr, messages_sent, messages_dropped, process.
        """
        user_id = _user_id(user_or_id)
        cluster = get_cluster(self.app)
        if cluster is not None:
            return cluster.user_connections(user_id)
        relay = self._relay()
        if relay is None:
            return []
        items = [{**c.describe(), "process": relay.instance} for c in relay.user_connections(user_id)]
        return sorted(items, key=lambda item: (item["connected_at"], item["connection_id"]))

    # ---- broadcasts --------------------------------------------------------------------------------

    def _publish(self, channel: str, message: dict[str, Any]) -> int:
        kind, data = _checked(message)
        return get_bus(self.app).publish(channel, bus_message(kind, data))

    def broadcast_to_user(self, user_or_id: Any, message: dict[str, Any]) -> int:
        """Send {type, data} to every socket of one user; returns how many web processes received it."""
        return self._publish(user_channel(_user_id(user_or_id)), message)

    def broadcast_to_asset_subscribers(self, symbol: str, message: dict[str, Any]) -> int:
        """Send {type, data} to every socket subscribed to `symbol` (data with `seq` is also resumable)."""
        return self._publish(asset_channel(normalize_symbol(symbol)), message)

    def broadcast_to_portfolio_subscribers(self, portfolio_id: int, message: dict[str, Any]) -> int:
        """Send {type, data} to every socket subscribed to the portfolio."""
        if isinstance(portfolio_id, bool) or not isinstance(portfolio_id, int) or portfolio_id <= 0:
            raise ValueError("portfolio_id must be a positive integer")
        return self._publish(portfolio_channel(portfolio_id), message)
