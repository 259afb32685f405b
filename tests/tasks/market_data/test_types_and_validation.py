"""QuoteResult/HistoryPoint and the shared validation and HTTP helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tasks.market_data import HistoryPoint, InvalidDataError, QuoteResult
from tasks.market_data.http import loads_decimal, parse_retry_after
from tasks.market_data.validation import (
    build_quote,
    parse_date,
    parse_unix_time,
    to_decimal,
    to_percent,
    to_volume,
)

NOW = datetime(2024, 1, 5, 21, tzinfo=UTC)


def test_as_dict_keeps_decimals_and_from_dict_round_trips() -> None:
    quote = build_quote("AAPL", "x", price="10.50", previous_close="10", timestamp=NOW, max_skew=0)
    data = quote.as_dict()
    assert data["price"] == Decimal("10.50") and isinstance(data["price"], Decimal)
    assert data["change"] == Decimal("0.50") and data["change_percent"] == Decimal("5.0000")
    assert QuoteResult.from_dict(data) == quote
    as_text = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in data.items()}
    as_text["timestamp"] = NOW.isoformat()
    assert QuoteResult.from_dict(as_text) == quote


def test_quote_result_invariants() -> None:
    with pytest.raises(ValueError, match="needs a price"):
        QuoteResult(symbol="A", success=True)
    with pytest.raises(ValueError, match="needs an error"):
        QuoteResult(symbol="A", success=False)
    with pytest.raises(ValueError, match="timezone-aware"):
        QuoteResult(symbol="A", success=True, price=Decimal(1), timestamp=datetime(2024, 1, 1))
    failure = QuoteResult.failure("A", "finnhub", "unknown symbol")
    assert failure.as_dict()["error"] == "unknown symbol" and failure.price is None


def test_history_point_as_dict() -> None:
    point = HistoryPoint(NOW, Decimal("1.10"), None, "simulated")
    assert point.as_dict() == {"timestamp": NOW, "price": Decimal("1.10"), "volume": None, "source": "simulated"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing field p"),
        ("", "missing field p"),
        (True, "p is not numeric"),
        ("1,5", "p is not numeric"),
        (Decimal("NaN"), "not a finite number"),
        ("-Infinity", "not a finite number"),
        ([1], "p is not numeric"),
    ],
)
def test_to_decimal_rejects(value: object, message: str) -> None:
    with pytest.raises(InvalidDataError, match=message):
        to_decimal(value, "p")


def test_number_helpers() -> None:
    assert to_decimal(" 12.30 ", "p") == Decimal("12.30") and to_decimal(7, "p") == Decimal(7)
    assert to_decimal(None, "p", required=False) is None
    assert to_percent("-1.0568%", "pct") == Decimal("-1.0568")
    assert to_volume(Decimal("100")) == 100 and to_volume(None) is None
    with pytest.raises(InvalidDataError, match="non-negative integer"):
        to_volume(Decimal("1.5"))


def test_time_helpers() -> None:
    assert parse_unix_time(1704488400) == NOW
    assert parse_date("2024-01-05") == datetime(2024, 1, 5, tzinfo=UTC)
    for bad in (0, -5, 10**20):
        with pytest.raises(InvalidDataError):
            parse_unix_time(bad)
    with pytest.raises(InvalidDataError, match="missing field date"):
        parse_date(None)


def test_future_timestamps_allow_a_small_skew() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert build_quote("A", "x", price=1, previous_close=1, timestamp=soon, max_skew=300).success
    with pytest.raises(InvalidDataError, match="in the future"):
        build_quote("A", "x", price=1, previous_close=1, timestamp=soon, max_skew=0)


def test_loads_decimal_never_yields_floats() -> None:
    data = loads_decimal('{"a": 0.1, "b": NaN, "c": 3, "d": Infinity}')
    assert data["a"] == Decimal("0.1") and data["c"] == 3
    assert isinstance(data["b"], Decimal) and data["b"].is_nan() and data["d"] == Decimal("Infinity")


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2024, 1, 5, 21, tzinfo=UTC)
    assert parse_retry_after("Fri, 05 Jan 2024 21:00:45 GMT", now=now) == 45.0
    assert parse_retry_after("Fri, 05 Jan 2024 20:00:00 GMT", now=now) == 0.0
