"""Updates built once for every socket: frame bytes, snapshot/resume flags."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import TextMessage

from app.realtime.updates import make_update, resumed_update, snapshot_update, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_matches_wsproto(size: int) -> None:
    text = "x" * size
    assert text_frame(text) == Connection(ConnectionType.SERVER).send(TextMessage(data=text))


def test_multibyte_text_frame() -> None:
    text = "€" * 50  # 150 bytes: the length is in bytes
    assert text_frame(text) == Connection(ConnectionType.SERVER).send(TextMessage(data=text))


def test_broadcast_update_is_framed_once_with_null_connection_id() -> None:
    update = make_update("asset:AAPL", "asset_update", {"symbol": "AAPL", "price": Decimal("1.50"), "seq": 3})
    assert update.seq == 3 and update.price == Decimal("1.5")
    assert update.frame == text_frame(update.text)
    assert json.loads(update.text)["connection_id"] is None


def test_direct_updates_carry_the_connection_and_flags() -> None:
    live = make_update("portfolio:7", "portfolio_update", {"portfolio_id": 7, "seq": 9})
    replay = resumed_update(live, "c-1")
    message = json.loads(replay.text)
    assert message["connection_id"] == "c-1" and message["data"] == {"portfolio_id": 7, "seq": 9, "resumed": True}
    assert replay.frame is None and live.data == {"portfolio_id": 7, "seq": 9}
    snapshot = json.loads(snapshot_update("asset:MSFT", {"symbol": "MSFT", "seq": 1}, "c-2").text)
    assert snapshot["type"] == "asset_update" and snapshot["data"]["snapshot"] is True
    assert make_update("asset:X", "asset_update", {"seq": True}).seq is None
