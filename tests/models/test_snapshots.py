"""asset_update data: one JSON type per field, whether the quote was just fetched or read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from models.market import Quote
from models.snapshots import asset_update_data
from protocol.wire import dumps


def quote(market_cap: Decimal | None, price: Decimal) -> Quote:
    return Quote(price=price, previous_close=price, change=Decimal(0), change_percent=Decimal(0), volume=10,
                 high=price, low=price, market_cap=market_cap, last_updated=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                 source="simulated", seq=4)


def test_market_cap_is_an_integer_however_precise_the_source() -> None:
    fetched = json.loads(dumps(asset_update_data("AAPL", quote(Decimal("2817775665152"), Decimal("187.5")))))
    stored = json.loads(dumps(asset_update_data("AAPL", quote(Decimal("2817775665152.12345678"),
                                                              Decimal("187.50000000")))))
    assert fetched["market_cap"] == stored["market_cap"] == 2817775665152
    assert type(fetched["market_cap"]) is type(stored["market_cap"]) is int
    assert type(fetched["price"]) is type(stored["price"]) is float
    assert stored["last_updated"] == "2026-01-02T03:04:05Z"


def test_market_cap_may_be_missing() -> None:
    assert asset_update_data("EURUSD=X", quote(None, Decimal("1.08")))["market_cap"] is None
