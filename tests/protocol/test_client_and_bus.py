"""The protocol: client frame validation, exact numbers, bus message shape, close codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.bus import bus_message, parse_bus_message, portfolio_update_message
from protocol.client import MAX_SYMBOLS_PER_MESSAGE, parse_client_message
from protocol.codes import BAD_REQUEST, FINAL_CLOSE_CODES, ProtocolError, should_reconnect
from protocol.wire import client_envelope, client_envelope_json, dumps, envelope, json_number


def frame(kind: str, **data: object) -> str:
    return json.dumps({"type": kind, "data": data})


def test_subscribe_asset_variants() -> None:
    one = parse_client_message(frame("subscribe_asset", symbol=" aapl "))
    assert one.symbols == ("AAPL",)
    many = parse_client_message(frame("subscribe_asset", symbols=["msft", "AAPL", "MSFT"], max_hz=2,
                                      min_change_percent=0.5))
    assert many.symbols == ("MSFT", "AAPL") and many.max_hz == 2
    assert many.min_change_percent == Decimal("0.5")
    resumed = parse_client_message(frame("subscribe_asset", symbol="EURUSD=X", last_seq=41))
    assert resumed.last_seq == 41 and resumed.symbols == ("EURUSD=X",)


def test_subscribe_portfolio_accepts_numeric_strings() -> None:
    assert parse_client_message(frame("subscribe_portfolio", portfolio_id="7")).portfolio_id == 7
    assert parse_client_message(frame("unsubscribe_portfolio", portfolio_id=7)).portfolio_id == 7


def test_ping_without_data() -> None:
    assert parse_client_message('{"type": "ping"}').type == "ping"


@pytest.mark.parametrize(("text", "words"), [
    ("{not json", "malformed JSON"),
    ("[1, 2]", "JSON object"),
    ('{"data": {}}', "missing field: type"),
    ('{"type": "launch_rockets"}', "unknown message type"),
    (frame("subscribe_asset"), "missing field: symbol"),
    (frame("subscribe_asset", symbol="not a symbol!"), "invalid symbol"),
    (frame("subscribe_asset", symbols=[]), "non-empty list"),
    (frame("subscribe_asset", symbols=["A"] * (MAX_SYMBOLS_PER_MESSAGE + 1)), "at most"),
    (frame("subscribe_portfolio"), "missing field: portfolio_id"),
    (frame("subscribe_portfolio", portfolio_id=-1), "positive integer"),
    (frame("subscribe_portfolio", portfolio_id=True), "positive integer"),
    (frame("subscribe_asset", symbol="AAPL", max_hz=0), "greater than 0"),
    (frame("subscribe_asset", symbol="AAPL", max_hz=500), "at most"),
    (frame("subscribe_asset", symbol="AAPL", min_change_percent=-1), "non-negative"),
    (frame("subscribe_asset", symbol="AAPL", last_seq=-3), "last_seq"),
    (frame("subscribe_asset", symbols=["AAPL", "MSFT"], last_seq=3), "single symbol"),
    ('{"type": "subscribe_asset", "data": {"symbol": "AAPL", "max_hz": NaN}}', "malformed JSON"),
    ('{"type": "subscribe_asset", "data": {"symbol": "AAPL", "min_change_percent": Infinity}}', "malformed JSON"),
    ('{"type": "ping", "data": "x"}', "data must be a JSON object"),
    ("[" * 100_000, "malformed JSON"),
])
def test_bad_frames_are_protocol_errors(text: str, words: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_client_message(text)
    assert raised.value.code == BAD_REQUEST and words in raised.value.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
frames = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.builds(lambda kind, data: json.dumps({"type": kind, "data": data}),
              st.sampled_from(["ping", "subscribe_asset", "unsubscribe_asset", "subscribe_portfolio",
                               "unsubscribe_portfolio", "other"]),
              st.dictionaries(st.sampled_from(["symbol", "symbols", "portfolio_id", "max_hz",
                                               "min_change_percent", "last_seq"]), json_values, max_size=4)),
)


@given(frames)
def test_any_frame_parses_or_is_a_protocol_error(text: str | bytes) -> None:
    try:
        message = parse_client_message(text)
    except ProtocolError as exc:
        assert exc.code == BAD_REQUEST and exc.message
    else:
        assert message.type in {"ping", "subscribe_asset", "unsubscribe_asset", "subscribe_portfolio",
                                "unsubscribe_portfolio"}


def test_decimals_keep_their_digits() -> None:
    text = dumps({"price": Decimal("150.25"), "tiny": Decimal("0.000001"), "long": Decimal("12345678901234567.89")})
    assert text == '{"price":150.25,"tiny":1e-06,"long":"12345678901234567.89"}'
    assert json.loads(text, parse_float=Decimal)["price"] == Decimal("150.25")


def test_trailing_zeros_do_not_change_the_json_type() -> None:
    stored, fetched = Decimal("2950000000000.00000000"), Decimal("2950000000000")
    assert dumps(stored) == dumps(fetched) == "2950000000000.0"
    assert dumps(Decimal("12345678.10000000")) == dumps(Decimal("12345678.1")) == "12345678.1"


@given(st.decimals() | st.builds(lambda c, e: Decimal(c).scaleb(e), st.integers(-10**40, 10**40),
                                 st.integers(-40, 40)))
def test_json_number_keeps_its_rule(value: Decimal) -> None:
    """A number when the digits, trailing zeros stripped, are at most 15; else the exact text (its fast path)."""
    digits = len(value.normalize().as_tuple().digits) if value.is_finite() else None
    expected = None if digits is None else float(value) if digits <= 15 else str(value)
    assert repr(json_number(value)) == repr(expected)


def test_bus_message_round_trip() -> None:
    text = bus_message("asset_update", {"symbol": "AAPL", "price": Decimal("1.10"), "seq": 3}, published_at=12.5)
    payload = parse_bus_message(text)
    assert payload.type == "asset_update" and payload.published_at == 12.5
    assert payload.data == {"symbol": "AAPL", "price": 1.1, "seq": 3}
    assert parse_bus_message('{"type": "feed_status"}').data == {}
    assert parse_bus_message('{"type": "x", "data": {}, "published_at": "soon"}').published_at is None


def _positions() -> list[dict[str, object]]:
    return [{"position_id": n, "symbol": f"S{n}", "value": Decimal(f"{n}.50"), "name": 'a "quoted" \x00 name'}
            for n in range(4)]


@pytest.mark.parametrize("pick", ["all", "some", "none", "copies", "missing"])
def test_portfolio_update_text_is_bus_message_text(monkeypatch: pytest.MonkeyPatch, pick: str) -> None:
    """Shared position dicts are encoded once: the text is exactly bus_message()'s."""
    monkeypatch.setattr("protocol.bus.time.time", lambda: 12.5)
    positions = _positions()
    updated = {"all": positions, "some": positions[1:3], "none": [], "copies": _positions(),
               "missing": None}[pick]
    data = {"portfolio_id": 7, "positions": positions, "total_value": Decimal("1.10"), "positions_updated": updated,
            "seq": 3}
    assert portfolio_update_message(data) == bus_message("portfolio_update", data)


@pytest.mark.parametrize("text", ["[]", '{"data": {}}', '{"type": "x", "data": [1]}', "nope"])
def test_bad_bus_messages_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_bus_message(text)


def test_client_envelope_shape() -> None:
    message = json.loads(client_envelope("pong", {}, "c-1"))
    assert set(message) == {"type", "data", "timestamp", "connection_id"}
    assert message["connection_id"] == "c-1" and message["timestamp"].endswith("Z")
    assert json.loads(client_envelope("asset_update", {"seq": 1}))["connection_id"] is None


@pytest.mark.parametrize("connection_id", ["c-1", None, 'quote"and\\back'])
def test_an_envelope_around_data_serialised_once_is_the_same_text(connection_id: str | None) -> None:
    moment = datetime(2026, 11, 30, 4, 5, 6, 789, tzinfo=UTC)
    data = {"symbol": "AAPL", "price": Decimal("151.25"), "big": Decimal("12345678901234567.89"), "seq": 7,
            "as_of": moment, "name": "Caf\u00e9 \u2014 \"x\"", "snapshot": True, "none": None}
    expected = dumps(envelope("asset_update", data, connection_id, timestamp=moment))
    assert client_envelope_json("asset_update", dumps(data), connection_id, timestamp=moment) == expected
    assert json.loads(client_envelope_json("pong", dumps({}), connection_id))["timestamp"].endswith("Z")


def test_final_close_codes() -> None:
    assert {4401, 4403, 4413} == FINAL_CLOSE_CODES
    assert not should_reconnect(4401) and should_reconnect(4429) and should_reconnect(4503)
