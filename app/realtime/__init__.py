"""Real-time delivery: one bus relay per web process, per-socket connections, and the ConnectionManager."""

from app.realtime.connection_manager import ConnectionManager
from app.realtime.relay import Relay, get_relay

__all__ = ["ConnectionManager", "Relay", "get_relay"]
