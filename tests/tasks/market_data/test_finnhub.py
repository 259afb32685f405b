"""Finnhub adapter against a local server speaking /api/v1/quote and /api/v1/stock/candle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tasks.market_data import FinnhubSource, RateLimitedError, SourceError, TransientSourceError, UnknownSymbolError
from tests.tasks.market_data.conftest import Reply, StubServer, load_response

QUOTE = "/api/v1/quote"
CANDLE = "/api/v1/stock/candle"


def make(stub: StubServer, **kwargs: object) -> FinnhubSource:
    """An adapter pointed at the stub, retrying without waiting."""
    options: dict[str, object] = {"api_key": "fh-key", "base_url": stub.url, "retries": 0, "backoff": 0}
    options.update(kwargs)
    return FinnhubSource(**options)  # type: ignore[arg-type]


def quote_body(**changes: object) -> str:
    """The AAPL fixture with some fields replaced (raw JSON text, so NaN can be written)."""
    body = json.loads(load_response("finnhub_quote_aapl.json"))
    body.update(changes)
    return json.dumps(body)


def test_success_sends_token_header_and_parses(stub: StubServer) -> None:
    stub.json(QUOTE, "finnhub_quote_aapl.json")
    quote = make(stub).fetch_quotes(["AAPL"])["AAPL"]
    seen = stub.seen(QUOTE)[0]
    assert seen.query == {"symbol": "AAPL"} and seen.headers["X-Finnhub-Token"] == "fh-key"
    assert quote.success and quote.source == "finnhub"
    assert quote.price == Decimal("181.18") and quote.previous_close == Decimal("181.91")
    assert quote.change == Decimal("-0.73") and quote.change_percent == Decimal("-0.4013")
    assert quote.timestamp == datetime(2024, 1, 5, 21, 0, 1, tzinfo=UTC)
    assert quote.volume is None and quote.market_cap is None


def test_unknown_symbol_is_all_zeros(stub: StubServer) -> None:
    stub.json(QUOTE, "finnhub_quote_unknown.json")
    result = make(stub).fetch_quotes(["NOPE"])["NOPE"]
    assert not result.success and result.error == "finnhub: unknown symbol"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"c": 0}, "price must be positive"),
        ({"c": -1.5}, "price must be positive"),
        ({"c": "181.x"}, "price is not numeric"),
        ({"c": float("nan")}, "price is not a finite number"),
        ({"t": 4102444800}, "is in the future"),
    ],
)
def test_garbage_is_rejected(stub: StubServer, changes: dict[str, object], reason: str) -> None:
    stub.route(QUOTE, Reply(quote_body(**changes)))
    result = make(stub).fetch_quotes(["AAPL"])["AAPL"]
    assert not result.success and reason in (result.error or "")


def test_missing_change_is_computed(stub: StubServer) -> None:
    stub.route(QUOTE, Reply(quote_body(d=None, dp=None)))
    quote = make(stub).fetch_quotes(["AAPL"])["AAPL"]
    assert quote.change == Decimal("-0.73") and quote.change_percent == Decimal("-0.4013")


def test_invalid_key_is_a_source_error(stub: StubServer) -> None:
    stub.json(QUOTE, "finnhub_invalid_key.json", status=401)
    with pytest.raises(SourceError, match="authentication failed"):
        make(stub).fetch_quotes(["AAPL"])


def test_http_failures(stub: StubServer) -> None:
    stub.route(QUOTE, Reply('{"error":"API limit reached. Please try again later."}', 429))
    with pytest.raises(RateLimitedError) as caught:
        make(stub).fetch_quotes(["AAPL"])
    assert caught.value.retry_after is None
    stub.route(QUOTE, Reply("", 500))
    with pytest.raises(TransientSourceError):
        make(stub).fetch_quotes(["AAPL"])
    stub.route(QUOTE, Reply("{'c': 1}"))
    with pytest.raises(SourceError, match="malformed JSON"):
        make(stub).fetch_quotes(["AAPL"])


def test_requires_a_key() -> None:
    assert not FinnhubSource().is_configured()
    assert FinnhubSource().rate_limit == 60


def test_history_from_candles(stub: StubServer) -> None:
    stub.json(CANDLE, "finnhub_candles_aapl.json")
    points = make(stub).fetch_history("AAPL", 2)
    assert stub.seen(CANDLE)[0].query["resolution"] == "D"
    assert [p.price for p in points] == [Decimal("181.91"), Decimal("181.18")]
    assert points[-1].volume == 62303300


def test_history_without_data(stub: StubServer) -> None:
    stub.json(CANDLE, "finnhub_no_data.json")
    with pytest.raises(UnknownSymbolError, match="no candle data"):
        make(stub).fetch_history("NOPE", 5)


def test_zero_previous_close_high_and_low_are_unknown(stub: StubServer) -> None:
    stub.route(QUOTE, Reply(quote_body(pc=0, h=0, l=0)))
    result = make(stub).fetch_quotes(["AAPL"])["AAPL"]
    assert result.success and result.previous_close is None and result.high is None and result.low is None
