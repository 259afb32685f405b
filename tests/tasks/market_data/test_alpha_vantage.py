"""Alpha Vantage adapter against a local server speaking GLOBAL_QUOTE / TIME_SERIES_DAILY."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tasks.market_data import (
    AlphaVantageSource,
    RateLimitedError,
    SourceError,
    TransientSourceError,
    UnknownSymbolError,
)
from tests.tasks.market_data.conftest import Reply, StubServer, load_response

QUERY = "/query"


def make(stub: StubServer, **kwargs: object) -> AlphaVantageSource:
    """An adapter pointed at the stub, retrying without waiting."""
    options: dict[str, object] = {"api_key": "av-key", "base_url": stub.url, "retries": 0, "backoff": 0}
    options.update(kwargs)
    return AlphaVantageSource(**options)  # type: ignore[arg-type]


def global_quote(**changes: str) -> str:
    """The IBM fixture with some fields replaced."""
    body = json.loads(load_response("alpha_vantage_global_quote_ibm.json"))
    body["Global Quote"].update(changes)
    return json.dumps(body)


def test_success_parses_string_fields_exactly(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_global_quote_ibm.json")
    quote = make(stub).fetch_quotes(["IBM"])["IBM"]
    assert stub.seen(QUERY)[0].query == {"function": "GLOBAL_QUOTE", "symbol": "IBM", "apikey": "av-key"}
    assert quote.success and quote.source == "alpha_vantage"
    assert quote.price == Decimal("159.1600") and quote.previous_close == Decimal("160.8600")
    assert quote.change == Decimal("-1.7000") and quote.change_percent == Decimal("-1.0568")
    assert quote.volume == 4440997 and quote.high == Decimal("162.4400") and quote.low == Decimal("159.1000")
    assert quote.timestamp == datetime(2024, 1, 5, tzinfo=UTC)
    assert quote.market_cap is None and quote.currency is None


def test_missing_change_fields_are_computed(stub: StubServer) -> None:
    stub.route(QUERY, Reply(global_quote(**{"09. change": "", "10. change percent": ""})))
    quote = make(stub).fetch_quotes(["IBM"])["IBM"]
    assert quote.change == Decimal("-1.7000") and quote.change_percent == Decimal("-1.0568")


def test_per_minute_note_with_http_200_is_a_rate_limit_not_data(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_note.json")
    with pytest.raises(RateLimitedError, match="throttled: Thank you for using Alpha Vantage") as caught:
        make(stub).fetch_quotes(["IBM"])
    assert caught.value.retry_after is None and not caught.value.local and not caught.value.daily


def test_daily_information_body_cools_down_until_the_daily_reset(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_information.json")  # "25 requests per day"
    with pytest.raises(RateLimitedError, match="daily quota spent: Thank you") as caught:
        make(stub).fetch_quotes(["IBM"])
    assert caught.value.daily and not caught.value.local
    assert caught.value.retry_after is not None and 0 < caught.value.retry_after <= 86_400


def test_unknown_symbol_gives_empty_global_quote(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_unknown.json")
    result = make(stub).fetch_quotes(["NOPE"])["NOPE"]
    assert not result.success and result.error == "alpha_vantage: unknown symbol"


def test_error_message_body_is_a_symbol_failure(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_error_message.json")
    result = make(stub).fetch_quotes(["NOPE"])["NOPE"]
    assert not result.success and "Invalid API call" in (result.error or "")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"05. price": "abc"}, "price is not numeric"),
        ({"05. price": "0.0000"}, "price must be positive"),
        ({"05. price": "-3.1000"}, "price must be positive"),
        ({"05. price": "NaN"}, "price is not a finite number"),
        ({"05. price": "Infinity"}, "price is not a finite number"),
        ({"08. previous close": "n/a"}, "previous close is not numeric"),
        ({"07. latest trading day": "2099-12-31"}, "is in the future"),
        ({"07. latest trading day": "yesterday"}, "latest trading day is not a date"),
        ({"01. symbol": "MSFT"}, "response is for MSFT, not IBM"),
    ],
)
def test_garbage_is_rejected(stub: StubServer, changes: dict[str, str], reason: str) -> None:
    stub.route(QUERY, Reply(global_quote(**changes)))
    result = make(stub).fetch_quotes(["IBM"])["IBM"]
    assert not result.success and reason in (result.error or "")


def test_missing_price_field_is_rejected(stub: StubServer) -> None:
    body = json.loads(load_response("alpha_vantage_global_quote_ibm.json"))
    del body["Global Quote"]["05. price"]
    stub.route(QUERY, Reply(json.dumps(body)))
    assert "missing field price" in (make(stub).fetch_quotes(["IBM"])["IBM"].error or "")


def test_429_and_500_and_malformed(stub: StubServer) -> None:
    stub.route(QUERY, Reply("slow down", 429, {"Retry-After": "12"}))
    with pytest.raises(RateLimitedError) as caught:
        make(stub).fetch_quotes(["IBM"])
    assert caught.value.retry_after == 12.0
    stub.route(QUERY, Reply("boom", 503))
    with pytest.raises(TransientSourceError):
        make(stub).fetch_quotes(["IBM"])
    stub.route(QUERY, Reply("<html>not json</html>"))
    with pytest.raises(SourceError, match="malformed JSON"):
        make(stub).fetch_quotes(["IBM"])


def test_requires_a_key() -> None:
    assert not AlphaVantageSource().is_configured()
    assert AlphaVantageSource(api_key="x").is_configured()
    assert AlphaVantageSource().rate_limit == 5


def test_history_is_sorted_oldest_first_and_trimmed(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_daily_ibm.json")
    points = make(stub).fetch_history("IBM", 3)
    query = stub.seen(QUERY)[0].query
    assert query["function"] == "TIME_SERIES_DAILY" and query["outputsize"] == "compact"
    assert [p.timestamp.date().isoformat() for p in points] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert points[-1].price == Decimal("159.1600") and points[-1].volume == 4440997


def test_history_for_many_days_asks_for_full_output(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_daily_ibm.json")
    assert len(make(stub).fetch_history("IBM", 250)) == 5
    assert stub.seen(QUERY)[0].query["outputsize"] == "full"


def test_history_errors(stub: StubServer) -> None:
    stub.json(QUERY, "alpha_vantage_error_message.json")
    with pytest.raises(UnknownSymbolError, match="alpha_vantage: NOPE: Invalid API call"):
        make(stub).fetch_history("NOPE", 5)
    stub.json(QUERY, "alpha_vantage_note.json")
    with pytest.raises(RateLimitedError):
        make(stub).fetch_history("IBM", 5)
