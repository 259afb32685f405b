"""Shared checks turning raw provider fields into a validated ``QuoteResult``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .base import InvalidDataError, QuoteResult

__all__ = [
    "build_quote",
    "check_not_future",
    "clean_text",
    "optional_positive",
    "optional_volume",
    "parse_date",
    "parse_unix_time",
    "to_decimal",
    "to_percent",
    "to_positive",
    "to_volume",
]

_PERCENT_STEP = Decimal("0.0001")


def to_decimal(value: Any, field: str, *, required: bool = True) -> Decimal | None:
    """Convert a JSON number or numeric string to a finite Decimal, else raise."""
    if value is None or value == "":
        if required:
            raise InvalidDataError(f"missing field {field}")
        return None
    if isinstance(value, bool):
        raise InvalidDataError(f"{field} is not numeric: {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidDataError(f"{field} is not numeric: {value!r}") from None
    if not number.is_finite():
        raise InvalidDataError(f"{field} is not a finite number: {value!r}")
    return number


def to_positive(value: Any, field: str, *, required: bool = True) -> Decimal | None:
    """Like ``to_decimal`` but zero and negative values are garbage (prices)."""
    number = to_decimal(value, field, required=required)
    if number is not None and number <= 0:
        raise InvalidDataError(f"{field} must be positive, got {number}")
    return number


def to_percent(value: Any, field: str) -> Decimal | None:
    """Parse a percentage given as a number or as text such as ``"1.23%"``."""
    if isinstance(value, str):
        value = value.strip().removesuffix("%")
    return to_decimal(value, field, required=False)


def to_volume(value: Any, field: str = "volume") -> int | None:
    """Parse a non-negative integral volume; None when absent."""
    number = to_decimal(value, field, required=False)
    if number is None:
        return None
    if number < 0 or number != number.to_integral_value():
        raise InvalidDataError(f"{field} must be a non-negative integer, got {number}")
    return int(number)


def parse_unix_time(value: Any, field: str = "timestamp") -> datetime:
    """Parse unix seconds into an aware UTC datetime."""
    number = to_decimal(value, field)
    assert number is not None  # required=True above
    if number <= 0:
        raise InvalidDataError(f"{field} must be a positive unix time, got {number}")
    try:
        return datetime.fromtimestamp(int(number), UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidDataError(f"{field} is out of range: {number}") from None


def parse_date(value: Any, field: str = "date") -> datetime:
    """Parse ``YYYY-MM-DD`` into midnight UTC of that day."""
    if not isinstance(value, str):
        raise InvalidDataError(f"missing field {field}" if value is None else f"{field} is not a date")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidDataError(f"{field} is not a date: {value!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def check_not_future(timestamp: datetime, max_skew: float, now: datetime | None = None) -> None:
    """Reject timestamps further in the future than the allowed clock skew."""
    current = now or datetime.now(UTC)
    if timestamp > current + timedelta(seconds=max_skew):
        raise InvalidDataError(f"timestamp {timestamp.isoformat()} is in the future")


def optional_positive(value: Any, field: str) -> Decimal | None:
    """An optional figure: absent or zero means unknown (indices and OTC names send 0), negative is garbage."""
    number = to_decimal(value, field, required=False)
    if number is None or number == 0:
        return None
    if number < 0:
        raise InvalidDataError(f"{field} must not be negative, got {number}")
    return number


def optional_volume(value: Any) -> int | None:
    """Volume where 0 means unknown (indices and FX report 0), not a traded volume of zero."""
    volume = to_volume(value)
    return volume or None


def clean_text(value: Any) -> str | None:
    """A stripped non-empty string as the provider wrote it (case kept), else None."""
    return value.strip() or None if isinstance(value, str) else None


def build_quote(
    symbol: str,
    source: str,
    *,
    price: Any,
    timestamp: datetime,
    max_skew: float,
    previous_close: Any = None,
    change: Any = None,
    change_percent: Any = None,
    volume: Any = None,
    high: Any = None,
    low: Any = None,
    market_cap: Any = None,
    currency: Any = None,
    exchange: Any = None,
    exchange_timezone: Any = None,
    market_state: Any = None,
) -> QuoteResult:
    """Validate raw fields and build a successful result, or raise ``InvalidDataError``.

    Only the price is required (and must be positive); zero or absent high/low/previous close/volume/market cap
    are unknown. The currency keeps the provider's case: 'GBp' is pence, 'GBP' pounds (models.currency).
    """
    price_d = to_positive(price, "price")
    assert price_d is not None  # required
    prev_d = optional_positive(previous_close, "previous close")
    high_d = optional_positive(high, "high")
    low_d = optional_positive(low, "low")
    if high_d is not None and low_d is not None and high_d < low_d:
        raise InvalidDataError(f"high {high_d} is below low {low_d}")
    change_d = to_decimal(change, "change", required=False)
    pct_d = to_percent(change_percent, "change percent")
    # Providers may omit change figures; derive them from the previous close when it is known.
    if change_d is None and prev_d is not None:
        change_d = price_d - prev_d
    if pct_d is None and change_d is not None and prev_d is not None:
        pct_d = (change_d / prev_d * 100).quantize(_PERCENT_STEP)
    check_not_future(timestamp, max_skew)
    return QuoteResult(
        symbol=symbol,
        success=True,
        price=price_d,
        previous_close=prev_d,
        change=change_d,
        change_percent=pct_d,
        volume=optional_volume(volume),
        high=high_d,
        low=low_d,
        market_cap=optional_positive(market_cap, "market cap"),
        currency=clean_text(currency),
        timestamp=timestamp,
        source=source,
        error=None,
        exchange=clean_text(exchange),
        exchange_timezone=clean_text(exchange_timezone),
        market_state=clean_text(market_state),
    )
