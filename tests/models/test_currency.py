"""Currency normalization, FX conversion and edge rounding (models.currency)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.currency import (
    FxRate,
    conversion_factor,
    convert,
    fx_symbols_needed,
    money_places,
    normalize_currency,
    percent,
    round_money,
    round_percent,
)

D = Decimal
RATES = {"EURUSD=X": FxRate(D("1.10")), "GBPUSD=X": FxRate(D("1.25"))}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("USD", ("USD", 1)),
        ("usd", ("USD", 1)),
        ("GBP", ("GBP", 1)),
        ("GBp", ("GBP", 100)),  # pence, not pounds: case matters here
        ("GBX", ("GBP", 100)),
        ("ILA", ("ILS", 100)),
        ("ZAc", ("ZAR", 100)),
    ],
)
def test_normalize_currency(code: str, expected: tuple[str, int]) -> None:
    assert normalize_currency(code) == expected


@pytest.mark.parametrize(
    ("code", "places"),
    [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("GBp", 0)],
)
def test_money_places(code: str, places: int) -> None:
    assert money_places(code) == places


def test_rounding_is_half_even_at_the_minor_unit() -> None:
    assert round_money(D("0.125"), "USD") == D("0.12")
    assert round_money(D("0.135"), "USD") == D("0.14")
    assert round_money(D("8642.5"), "JPY") == D("8642")
    assert round_money(D("1.23456"), "KWD") == D("1.235")
    assert str(round_money(D("3"), "USD")) == "3.00"  # always at the minor-unit exponent
    assert round_percent(D("1.005")) == D("1.00")


def test_convert_direct_inverse_and_same_currency() -> None:
    assert convert(D("100"), "EUR", "USD", RATES) == D("110.00")
    # Only EURUSD=X is known: USD -> EUR divides by it. 110 / 1.10 = 100.
    assert convert(D("110"), "USD", "EUR", RATES) == D("100")
    assert convert(D("42.42"), "USD", "USD", {}) == D("42.42")


def test_convert_minor_units() -> None:
    # 250 pence = 2.50 GBP = 2.50 * 1.25 = 3.125 USD (unrounded: rounding is the edge's job)
    assert convert(D("250"), "GBp", "USD", RATES) == D("3.125")
    assert convert(D("250"), "GBX", "GBP", {}) == D("2.5")
    assert convert(D("2.5"), "GBP", "GBp", {}) == D("250")
    assert convert(D("1000"), "ILA", "ILS", {}) == D("10")


def test_convert_missing_or_unusable_rate_is_none() -> None:
    assert convert(D("1"), "CHF", "USD", RATES) is None
    assert convert(D("1"), "EUR", "USD", {"EURUSD=X": FxRate(D("0"))}) is None
    assert convert(D("1"), "USD", "EUR", {"EURUSD=X": FxRate(D("-1"))}) is None
    assert conversion_factor("CHF", "USD", RATES) is None


def test_fx_symbols_needed() -> None:
    currencies = ["USD", "EUR", "GBp", "GBX", "GBP", "ILA", "JPY"]
    assert fx_symbols_needed(currencies, "USD") == {
        "EURUSD=X",
        "GBPUSD=X",
        "ILSUSD=X",
        "JPYUSD=X",
    }
    assert fx_symbols_needed(["GBp", "GBP"], "GBP") == set()
    assert fx_symbols_needed([], "USD") == set()


def test_percent_divides_by_absolute_value_and_never_by_zero() -> None:
    assert percent(D("-10"), D("200")) == D("-5")
    assert percent(D("-10"), D("-200")) == D("-5")  # a short that lost money stays negative
    assert percent(D("5"), D("0")) is None
