"""The WebSocket protocol and bus channel names: one module the web side and the workers both import."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

# Client -> server message types.
PING = "ping"
SUBSCRIBE_ASSET = "subscribe_asset"
UNSUBSCRIBE_ASSET = "unsubscribe_asset"
SUBSCRIBE_PORTFOLIO = "subscribe_portfolio"
UNSUBSCRIBE_PORTFOLIO = "unsubscribe_portfolio"
CLIENT_TYPES = frozenset({PING, SUBSCRIBE_ASSET, UNSUBSCRIBE_ASSET, SUBSCRIBE_PORTFOLIO, UNSUBSCRIBE_PORTFOLIO})

# Server -> client message types.
CONNECTION = "connection"
PONG = "pong"
SUBSCRIBED = "subscribed"
UNSUBSCRIBED = "unsubscribed"
ASSET_UPDATE = "asset_update"
PORTFOLIO_UPDATE = "portfolio_update"
POSITION_UPDATE = "position_update"
NOTIFICATION = "notification"
FEED_STATUS = "feed_status"
ERROR = "error"
# Internal control messages on the bus, never sent to clients.
CONTROL_LOGOUT = "_logout"
CONTROL_TOKEN_REVOKED = "_token_revoked"  # data {"token_hash"}: close that token's sockets now
CONTROL_HEARTBEAT = "_heartbeat"

# Close codes and error codes (docs/protocol.md says which are final).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007  # a text frame that is not UTF-8 (an `error` comes first)
CLOSE_NO_PONG = 1008  # policy violation: no pong to the server's ping within one heartbeat interval
CLOSE_INTERNAL_ERROR = 1011
BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404
IDLE_TIMEOUT = 4408
TOO_LARGE = 4413
TOO_MANY = 4429
SLOW_CONSUMER = 4503
FINAL_CLOSE_CODES = frozenset({UNAUTHORIZED, FORBIDDEN, TOO_LARGE})
# What each code means; an `error` with the same code precedes every close with a 44xx/45xx code.
CLOSE_REASONS = {
    BAD_REQUEST: "bad request",
    UNAUTHORIZED: "authentication required",
    FORBIDDEN: "forbidden",
    NOT_FOUND: "not found",
    IDLE_TIMEOUT: "idle timeout",
    TOO_LARGE: "message too large",
    TOO_MANY: "too many requests",
    SLOW_CONSUMER: "slow consumer",
}

# feed_status values the relay itself emits (the feed adds its own, e.g. "stale", "failover").
FEED_DEGRADED = "degraded"
FEED_RECOVERED = "recovered"

# Workers publish a heartbeat on HEARTBEAT_CHANNEL this often (publish_heartbeat).
HEARTBEAT_PERIOD_SECONDS = 5

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-=^]{0,19}$")
MAX_SYMBOLS_PER_MESSAGE = 50
MAX_ID = 2**31 - 1  # row ids are 32-bit integers in PostgreSQL: larger ones name nothing
SHOWN_SYMBOL_CHARS = 24  # an invalid symbol is echoed in its error cut to this many characters
MAX_HZ_LIMIT = 50.0

# Decimals up to this many significant digits survive a float round trip with their exact text.
_EXACT_FLOAT_DIGITS = 15


class ProtocolError(ValueError):
    """A client frame we cannot act on; `code` goes into the `error` message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def asset_channel(symbol: str) -> str:
    """The channel of one asset's price updates."""
    return f"asset:{symbol}"


def portfolio_channel(portfolio_id: int) -> str:
    """The channel of one portfolio's valuations."""
    return f"portfolio:{portfolio_id}"


def user_channel(user_id: int) -> str:
    """The channel of messages for every socket of one user."""
    return f"user:{user_id}"


FEED_CHANNEL = "feed"
HEARTBEAT_CHANNEL = "heartbeat"
USER_CHANNEL_PREFIX = "user:"


def should_reconnect(code: int) -> bool:
    """False for the final close codes (4401, 4403, 4413): reconnecting cannot help."""
    return code not in FINAL_CLOSE_CODES


def normalise_symbol(raw: object) -> str:
    """An upper-case valid symbol, or ProtocolError."""
    if not isinstance(raw, str) or not SYMBOL_PATTERN.match(raw.strip().upper()):
        if isinstance(raw, str):
            shown = raw if len(raw) <= SHOWN_SYMBOL_CHARS else raw[:SHOWN_SYMBOL_CHARS] + "…"
            raise ProtocolError(BAD_REQUEST, f"invalid symbol: {shown!r}")
        raise ProtocolError(BAD_REQUEST, f"invalid symbol: expected a string, got {type(raw).__name__}")
    return raw.strip().upper()


def is_valid_symbol(raw: object) -> bool:
    """True when `raw` is an acceptable symbol."""
    try:
        normalise_symbol(raw)
    except ProtocolError:
        return False
    return True


@dataclass(frozen=True)
class ClientMessage:
    """A validated client frame."""

    type: str
    symbols: tuple[str, ...] = ()
    portfolio_id: int | None = None
    max_hz: float | None = None
    min_change_percent: Decimal | None = None
    last_seq: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _positive_number(data: dict[str, Any], name: str, upper: float | None = None, strict: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ProtocolError(BAD_REQUEST, f"{name} must be a non-negative number")
    if strict and value == 0:
        raise ProtocolError(BAD_REQUEST, f"{name} must be greater than 0")
    if upper is not None and value > upper:
        raise ProtocolError(BAD_REQUEST, f"{name} must be at most {upper:g}")
    return value


def _symbols(data: dict[str, Any]) -> tuple[str, ...]:
    if "symbols" in data:
        raw = data["symbols"]
        if not isinstance(raw, list) or not raw:
            raise ProtocolError(BAD_REQUEST, "symbols must be a non-empty list")
        if len(raw) > MAX_SYMBOLS_PER_MESSAGE:
            raise ProtocolError(BAD_REQUEST, f"at most {MAX_SYMBOLS_PER_MESSAGE} symbols per message")
        return tuple(dict.fromkeys(normalise_symbol(item) for item in raw))
    if "symbol" not in data:
        raise ProtocolError(BAD_REQUEST, "missing field: symbol (or symbols)")
    return (normalise_symbol(data["symbol"]),)


def _portfolio_id(data: dict[str, Any]) -> int:
    raw = data.get("portfolio_id")
    if raw is None:
        raise ProtocolError(BAD_REQUEST, "missing field: portfolio_id")
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdigit():
        raise ProtocolError(BAD_REQUEST, "portfolio_id must be a positive integer")
    value = int(raw)
    if value <= 0 or value > MAX_ID:
        raise ProtocolError(BAD_REQUEST, "portfolio_id must be a positive integer")
    return value


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON and would poison comparisons.
    raise ValueError(f"not JSON: {name}")


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Decode and validate one client frame, or raise ProtocolError."""
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProtocolError(BAD_REQUEST, "malformed JSON") from None
    if not isinstance(payload, dict):
        raise ProtocolError(BAD_REQUEST, "a message must be a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(BAD_REQUEST, "missing field: type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(BAD_REQUEST, f"unknown message type: {kind[:40]!r}")
    data = payload.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, "data must be a JSON object")
    if kind == PING:
        return ClientMessage(type=kind)
    last_seq = data.get("last_seq")
    if last_seq is not None and (isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0):
        raise ProtocolError(BAD_REQUEST, "last_seq must be a non-negative integer")
    if kind in (SUBSCRIBE_ASSET, UNSUBSCRIBE_ASSET):
        min_change = _positive_number(data, "min_change_percent", 100.0)
        symbols = _symbols(data)
        if last_seq is not None and len(symbols) > 1:
            raise ProtocolError(BAD_REQUEST, "last_seq needs a single symbol (seq is per channel)")
        return ClientMessage(
            type=kind,
            symbols=symbols,
            max_hz=_positive_number(data, "max_hz", MAX_HZ_LIMIT, strict=True),
            min_change_percent=None if min_change is None else Decimal(str(min_change)),
            last_seq=last_seq,
        )
    return ClientMessage(
        type=kind,
        portfolio_id=_portfolio_id(data),
        max_hz=_positive_number(data, "max_hz", MAX_HZ_LIMIT, strict=True),
        last_seq=last_seq,
    )


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_default(value: object) -> object:
    """JSON for Decimal (a number with its exact digits where possible) and datetimes."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        # A float whose shortest repr is the decimal's own text keeps it exact on the wire.
        if len(value.as_tuple().digits) <= _EXACT_FLOAT_DIGITS:
            return float(value)
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(payload: object) -> str:
    """Compact JSON with our Decimal and datetime rules."""
    return json.dumps(payload, default=json_default, separators=(",", ":"))


def envelope(kind: str, data: dict[str, Any], connection_id: str | None = None,
             timestamp: datetime | None = None) -> dict[str, Any]:
    """The standard message shape {type, data, timestamp, connection_id}."""
    return {
        "type": kind,
        "data": data,
        "timestamp": iso(timestamp or datetime.now(UTC)),
        "connection_id": connection_id,
    }


def error_data(code: int, message: str, retry_after: int | None = None, closing: bool = False) -> dict[str, Any]:
    """The payload of an `error` message; `closing` says the server closes with this code next."""
    data: dict[str, Any] = {"code": code, "message": message}
    if retry_after is not None:
        data["retry_after"] = retry_after
    if closing:
        data["closing"] = True
    return data


class BusPayload(NamedTuple):
    """A message as publishers put it on the bus: {"type", "data", "published_at"}."""

    type: str
    data: dict[str, Any]
    published_at: float | None


def bus_message(kind: str, data: dict[str, Any], published_at: float | None = None) -> str:
    """The bus text of one update; `published_at` (epoch seconds) feeds the publish-to-send metric."""
    return dumps({"type": kind, "data": data, "published_at": time.time() if published_at is None else published_at})


def parse_bus_message(text: str | bytes) -> BusPayload:
    """Decode a bus message, or ValueError when it is not {"type": str, "data": object, ...}."""
    payload = json.loads(text, parse_constant=_reject_constant)
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


class Publisher(Protocol):
    """Anything with the bus's publish method (models.bus.Bus)."""

    def publish(self, channel: str, data: str) -> int:
        """Send `data` on `channel`."""


def heartbeat_message(source: str) -> str:
    """The text of one worker heartbeat."""
    return bus_message(CONTROL_HEARTBEAT, {"source": source, "period": HEARTBEAT_PERIOD_SECONDS})


def publish_heartbeat(bus: Publisher, source: str = "worker") -> int:
    """Say on HEARTBEAT_CHANNEL that `source` is alive; call it every HEARTBEAT_PERIOD_SECONDS."""
    return bus.publish(HEARTBEAT_CHANNEL, heartbeat_message(source))


def client_envelope(kind: str, data: dict[str, Any], connection_id: str | None = None) -> str:
    """One server->client frame, serialised: envelope + dumps."""
    return dumps(envelope(kind, data, connection_id))
