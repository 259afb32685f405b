"""Messages on the bus from workers (and the web side) to every relay: builders and the one parser.

A bus message is ``{"type", "data", "published_at"}``; `published_at` (epoch seconds) feeds the
publish-to-send metric. Control messages (leading underscore) steer relays and never reach clients.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any, NamedTuple

from protocol.client import ASSET_UPDATE, FEED_STATUS, PORTFOLIO_UPDATE, POSITION_UPDATE, feed_status_data
from protocol.wire import dumps, loads

# Internal control messages on the bus, never sent to clients.
CONTROL_LOGOUT = "_logout"
CONTROL_TOKEN_REVOKED = "_token_revoked"  # data {"token_hash"}: close that token's sockets now
CONTROL_HEARTBEAT = "_heartbeat"

# feed_status values the relay itself emits (the feed adds its own: "stale", "failover", "ok").
FEED_DEGRADED = "degraded"
FEED_RECOVERED = "recovered"
FEED_FAILOVER = "failover"
FEED_STALE = "stale"
FEED_OK = "ok"

# Workers publish a heartbeat on HEARTBEAT_CHANNEL this often.
HEARTBEAT_PERIOD_SECONDS = 5


class BusPayload(NamedTuple):
    """A message as publishers put it on the bus: {"type", "data", "published_at"}."""

    type: str
    data: dict[str, Any]
    published_at: float | None


def bus_message(kind: str, data: dict[str, Any], published_at: float | None = None) -> str:
    """The bus text of one message, stamped with now unless `published_at` is given."""
    return dumps({"type": kind, "data": data, "published_at": time.time() if published_at is None else published_at})


def asset_update_message(data: dict[str, Any]) -> str:
    """An asset_update for the asset channel (data from asset_update_data)."""
    return bus_message(ASSET_UPDATE, data)


def portfolio_update_message(data: dict[str, Any]) -> str:
    """A portfolio_update for the portfolio channel; the text of bus_message(PORTFOLIO_UPDATE, data).

    positions_updated holds the very dicts of positions (a subset): each is encoded once and its text used in
    both lists, which halves the JSON work of a round where every position moved.
    """
    positions, updated = data.get("positions"), data.get("positions_updated")
    if not positions or not updated or not isinstance(positions, list) or not isinstance(updated, list):
        return bus_message(PORTFOLIO_UPDATE, data)
    texts = {id(item): dumps(item) for item in positions}
    if any(id(item) not in texts for item in updated):
        return bus_message(PORTFOLIO_UPDATE, data)
    # Placeholders no real value can contain (a fresh random token), replaced by the lists' JSON.
    mark = f"\x00{secrets.token_hex(8)}"
    text = bus_message(PORTFOLIO_UPDATE, {**data, "positions": mark + "p", "positions_updated": mark + "u"})
    for key, items in (("p", positions), ("u", updated)):
        text = text.replace(dumps(mark + key), "[" + ",".join(texts[id(item)] for item in items) + "]", 1)
    return text


def position_update_message(data: dict[str, Any]) -> str:
    """A position_update for the owner's user channel."""
    return bus_message(POSITION_UPDATE, data)


def feed_status_message(status: str, message: str, source: str | None = None) -> str:
    """A feed_status for the feed channel (failover, recovered, stale, ok)."""
    return bus_message(FEED_STATUS, feed_status_data(status, message, source))


def heartbeat_message(source: str) -> str:
    """The text of one worker heartbeat."""
    return bus_message(CONTROL_HEARTBEAT, {"source": source, "period": HEARTBEAT_PERIOD_SECONDS})


def logout_message() -> str:
    """Tells every relay to close the sockets of the user whose channel carries it."""
    return bus_message(CONTROL_LOGOUT, {})


def token_revoked_message(token_hash: str) -> str:
    """Tells every relay to close the sockets opened with this (revoked) token, on its owner's channel."""
    return bus_message(CONTROL_TOKEN_REVOKED, {"token_hash": token_hash})


def parse_bus_message(text: str | bytes) -> BusPayload:
    """Decode a bus message, or ValueError when it is not {"type": str, "data": object, ...}."""
    payload = loads(text)
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ValueError("bus message without a type")
    data = payload.get("data")
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ValueError("bus message data must be an object")
    published = payload.get("published_at")
    when: float | None = None
    if isinstance(published, (int, float)) and not isinstance(published, bool) and math.isfinite(published):
        when = float(published)
    return BusPayload(payload["type"], data, when)
