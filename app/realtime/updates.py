"""Updates as the relay handles them: parsed once, serialised once, filtered per subscription."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.realtime.limits import to_decimal
from models.messages import ASSET_UPDATE, PORTFOLIO_UPDATE, client_envelope

ASSET_PREFIX = "asset:"
PORTFOLIO_PREFIX = "portfolio:"


@dataclass(frozen=True, slots=True)
class Update:
    """One channel message: its client frame (`text`) and what the filters look at."""

    channel: str
    kind: str
    data: dict[str, Any]
    text: str
    seq: int | None
    published_at: float | None = None
    price: Decimal | None = None


def channel_kind(channel: str) -> str | None:
    """"asset", "portfolio", or None for other channels."""
    if channel.startswith(ASSET_PREFIX):
        return "asset"
    if channel.startswith(PORTFOLIO_PREFIX):
        return "portfolio"
    return None


def _seq(data: dict[str, Any]) -> int | None:
    seq = data.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else None


def make_update(channel: str, kind: str, data: dict[str, Any], connection_id: str | None = None,
                published_at: float | None = None) -> Update:
    """An update with its frame serialised now (once for every local subscriber when connection_id is None)."""
    price = to_decimal(data.get("price")) if channel.startswith(ASSET_PREFIX) else None
    text = client_envelope(kind, data, connection_id)
    return Update(channel, kind, data, text, _seq(data), published_at, price)


def snapshot_update(channel: str, data: dict[str, Any], connection_id: str | None = None) -> Update:
    """The latest stored state of a channel, flagged `snapshot: true`."""
    kind = ASSET_UPDATE if channel.startswith(ASSET_PREFIX) else PORTFOLIO_UPDATE
    return make_update(channel, kind, {**data, "snapshot": True}, connection_id)


def resumed_update(update: Update, connection_id: str) -> Update:
    """A buffered update replayed to one connection, flagged `resumed: true`."""
    return make_update(update.channel, update.kind, {**update.data, "resumed": True}, connection_id)
