"""Updates as the relay handles them: parsed once, serialised once, filtered per subscription."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.realtime.limits import to_decimal
from protocol.channels import ASSET, PORTFOLIO, is_asset_channel, is_portfolio_channel
from protocol.client import ASSET_UPDATE, PORTFOLIO_UPDATE
from protocol.wire import client_envelope_json, dumps


def text_frame(text: str) -> bytes:
    """An unmasked, uncompressed, final WebSocket text frame (what a server sends without extensions)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


@dataclass(frozen=True, slots=True)
class Update:
    """One channel message: its client frame (`text`, and `frame` built once for every socket)."""

    channel: str
    kind: str
    data: dict[str, Any]
    text: str
    seq: int | None
    published_at: float | None = None
    price: Decimal | None = None
    frame: bytes | None = None


def channel_kind(channel: str) -> str | None:
    """"asset", "portfolio", or None for other channels."""
    if is_asset_channel(channel):
        return ASSET
    if is_portfolio_channel(channel):
        return PORTFOLIO
    return None


def _seq(data: dict[str, Any]) -> int | None:
    seq = data.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None


def make_update(channel: str, kind: str, data: dict[str, Any], connection_id: str | None = None,
                published_at: float | None = None) -> Update:
    """An update with its frame serialised now (once for every local subscriber when connection_id is None)."""
    return update_from_json(channel, kind, data, dumps(data), connection_id, published_at=published_at)


def update_from_json(channel: str, kind: str, data: dict[str, Any], data_json: str, connection_id: str | None = None,
                     *, published_at: float | None = None) -> Update:
    """make_update() with `data_json` = dumps(data) done already (shared by many sockets' copies)."""
    price = to_decimal(data.get("price")) if is_asset_channel(channel) else None
    text = client_envelope_json(kind, data_json, connection_id)
    shared = text_frame(text) if connection_id is None else None
    return Update(channel, kind, data, text, _seq(data), published_at, price, shared)


def snapshot_update(channel: str, data: dict[str, Any], connection_id: str | None = None) -> Update:
    """The latest stored state of a channel, flagged `snapshot: true`."""
    kind = ASSET_UPDATE if is_asset_channel(channel) else PORTFOLIO_UPDATE
    return make_update(channel, kind, {**data, "snapshot": True}, connection_id)


def resumed_update(update: Update, connection_id: str) -> Update:
    """A buffered update replayed to one connection, flagged `resumed: true`."""
    return make_update(update.channel, update.kind, {**update.data, "resumed": True}, connection_id)
