"""The one symbol rule: every canonical form in, junk out with an error naming the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codes import BAD_REQUEST, ProtocolError
from protocol.symbols import MAX_SYMBOL_LENGTH, SYMBOL_PATTERN, is_valid_symbol, normalize_symbol, symbol_or_none

CANONICAL = ["AAPL", "BRK-B", "BRK.B", "VOD.L", "7203.T", "EURUSD=X", "BTC-USD", "^GSPC", "GC=F", "DX-Y.NYB"]


@pytest.mark.parametrize("symbol", CANONICAL)
def test_every_canonical_form_is_accepted(symbol: str) -> None:
    assert normalize_symbol(symbol) == symbol
    assert normalize_symbol(f" {symbol.lower()} ") == symbol
    assert is_valid_symbol(symbol) and symbol_or_none(symbol) == symbol


@pytest.mark.parametrize(("raw", "shown"), [
    ("", "empty"),
    ("AA PL", "'AA PL'"),
    ("A/B", "'A/B'"),
    ("../etc", "'../etc'"),
    ("A..B", "'A..B'"),
    ("BRK-", "'BRK-'"),
    ("^", "'^'"),
    ("A^B", "'A^B'"),
    (1, "1 is not a string"),
    (None, "None is not a string"),
    (["AAPL"], "['AAPL'] is not a string"),
])
def test_junk_is_rejected_naming_the_value(raw: object, shown: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        normalize_symbol(raw)
    assert caught.value.code == BAD_REQUEST
    assert shown in caught.value.message
    assert not is_valid_symbol(raw) and symbol_or_none(raw) is None


def test_a_long_symbol_is_reported_by_value_not_by_type() -> None:
    long = "B" * (MAX_SYMBOL_LENGTH + 1)
    with pytest.raises(ProtocolError, match=f"'{long}' is longer than {MAX_SYMBOL_LENGTH}"):
        normalize_symbol(long)
    assert normalize_symbol("A" * MAX_SYMBOL_LENGTH) == "A" * MAX_SYMBOL_LENGTH


def test_a_huge_value_is_quoted_cut_to_24_characters() -> None:
    with pytest.raises(ProtocolError) as caught:
        normalize_symbol("x" * 10_000)
    assert caught.value.message == f"invalid symbol: '{'x' * 24}…' is longer than {MAX_SYMBOL_LENGTH} characters"


@given(st.text(max_size=40))
def test_the_rule_never_raises_anything_else(raw: str) -> None:
    try:
        symbol = normalize_symbol(raw)
    except ProtocolError:
        return
    assert symbol == symbol.strip().upper() and 0 < len(symbol) <= MAX_SYMBOL_LENGTH


def test_the_dashboard_checks_the_same_rule() -> None:
    script = (Path(__file__).resolve().parents[2] / "app" / "static" / "js" / "dashboard.js").read_text()
    pattern = re.search(r"const SYMBOL_RE = /(.+)/;", script)
    length = re.search(r"const MAX_SYMBOL_LENGTH = (\d+);", script)
    assert pattern is not None and pattern.group(1) == SYMBOL_PATTERN.pattern
    assert length is not None and int(length.group(1)) == MAX_SYMBOL_LENGTH
