"""Client <-> server message types and the validation of client frames."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from protocol.channels import channel_portfolio_id, channel_symbol, is_asset_channel
from protocol.codes import BAD_REQUEST, ProtocolError
from protocol.symbols import normalize_symbol
from protocol.wire import loads

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

MAX_SYMBOLS_PER_MESSAGE = 50
MAX_HZ_LIMIT = 50.0


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


def _positive_number(data: dict[str, Any], name: str, upper: float | None = None,
                     strict: bool = False) -> float | int | None:
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


def parse_symbol_list(raw: object, limit: int = MAX_SYMBOLS_PER_MESSAGE) -> tuple[str, ...]:
    """A non-empty list of at most `limit` symbols, normalized and de-duplicated, or ProtocolError."""
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(BAD_REQUEST, "symbols must be a non-empty list")
    if len(raw) > limit:
        raise ProtocolError(BAD_REQUEST, f"at most {limit} symbols per message")
    return tuple(dict.fromkeys(normalize_symbol(item) for item in raw))


def _symbols(data: dict[str, Any]) -> tuple[str, ...]:
    if "symbols" in data:
        return parse_symbol_list(data["symbols"])
    if "symbol" not in data:
        raise ProtocolError(BAD_REQUEST, "missing field: symbol (or symbols)")
    return (normalize_symbol(data["symbol"]),)


MAX_ID = 2**31 - 1  # row ids are 32-bit integers in PostgreSQL: larger ones name nothing


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


def _frame_data(text: str | bytes) -> tuple[str, dict[str, Any]]:
    """The type and data object of a frame, or ProtocolError."""
    try:
        payload = loads(text)
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
    return kind, data


def _last_seq(data: dict[str, Any]) -> int | None:
    last_seq = data.get("last_seq")
    if last_seq is not None and (isinstance(last_seq, bool) or not isinstance(last_seq, int) or last_seq < 0):
        raise ProtocolError(BAD_REQUEST, "last_seq must be a non-negative integer")
    return last_seq


def _max_hz(data: dict[str, Any]) -> float | None:
    value = _positive_number(data, "max_hz", MAX_HZ_LIMIT, strict=True)
    return None if value is None else float(value)


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Decode and validate one client frame, or raise ProtocolError."""
    kind, data = _frame_data(text)
    if kind == PING:
        return ClientMessage(type=kind)
    last_seq = _last_seq(data)
    if kind in (SUBSCRIBE_ASSET, UNSUBSCRIBE_ASSET):
        min_change = _positive_number(data, "min_change_percent", 100.0)
        symbols = _symbols(data)
        if last_seq is not None and len(symbols) > 1:
            raise ProtocolError(BAD_REQUEST, "last_seq needs a single symbol (seq is per channel)")
        return ClientMessage(
            type=kind,
            symbols=symbols,
            max_hz=_max_hz(data),
            min_change_percent=None if min_change is None else Decimal(str(min_change)),
            last_seq=last_seq,
        )
    return ClientMessage(type=kind, portfolio_id=_portfolio_id(data), max_hz=_max_hz(data), last_seq=last_seq)


def error_data(code: int, message: str, retry_after: int | None = None, closing: bool = False) -> dict[str, Any]:
    """The payload of an `error` message; `closing` says the server closes with this code next."""
    data: dict[str, Any] = {"code": code, "message": message}
    if retry_after is not None:
        data["retry_after"] = retry_after
    if closing:
        data["closing"] = True
    return data


def feed_status_data(status: str, message: str, source: str | None) -> dict[str, Any]:
    """The payload of a `feed_status` message."""
    return {"status": status, "message": message, "source": source}


def _target(channel: str) -> dict[str, Any]:
    """{"symbol": ...} for an asset channel, {"portfolio_id": ...} for a portfolio channel."""
    if is_asset_channel(channel):
        return {"symbol": channel_symbol(channel)}
    return {"portfolio_id": channel_portfolio_id(channel)}


def subscribed_data(channel: str, resumed: bool) -> dict[str, Any]:
    """The payload of `subscribed`: the channel, its symbol or portfolio id, and whether it resumes by seq."""
    return {"channel": channel, **_target(channel), "resumed": resumed}


def unsubscribed_data(channel: str) -> dict[str, Any]:
    """The payload of `unsubscribed`."""
    return {"channel": channel, **_target(channel)}
