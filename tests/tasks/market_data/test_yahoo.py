"""Yahoo Finance adapter against a local server speaking the v7 quote / v8 chart formats."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tasks.market_data import (
    RateLimitedError,
    SourceError,
    TransientSourceError,
    UnknownSymbolError,
    YahooFinanceSource,
)
from tests.tasks.market_data.conftest import Reply, StubServer, closed_port, load_response

QUOTE = "/v7/finance/quote"


def make(stub: StubServer, **kwargs: object) -> YahooFinanceSource:
    """An adapter pointed at the stub, retrying without waiting."""
    options: dict[str, object] = {"base_url": stub.url, "retries": 0, "backoff": 0, "timeout": 5}
    options.update(kwargs)
    return YahooFinanceSource(**options)  # type: ignore[arg-type]


def test_batch_success_is_one_request_with_exact_decimals(stub: StubServer) -> None:
    stub.json(QUOTE, "yahoo_quote_success.json")
    results = make(stub).fetch_quotes(["AAPL", "MSFT", "EURUSD=X"])
    assert len(stub.seen(QUOTE)) == 1
    assert stub.seen(QUOTE)[0].query["symbols"] == "AAPL,MSFT,EURUSD=X"
    aapl = results["AAPL"]
    assert aapl.success and aapl.source == "yahoo_finance" and aapl.error is None
    assert aapl.price == Decimal("181.18") and isinstance(aapl.price, Decimal)
    assert aapl.previous_close == Decimal("181.91")
    assert aapl.change == Decimal("-0.7299957")
    assert aapl.change_percent == Decimal("-0.40106")
    assert aapl.volume == 62303300
    assert (aapl.high, aapl.low) == (Decimal("182.76"), Decimal("180.17"))
    assert aapl.market_cap == Decimal(2817775665152)
    assert aapl.currency == "USD"
    assert aapl.timestamp == datetime(2024, 1, 5, 21, 0, 1, tzinfo=UTC)


def test_missing_change_is_computed_from_previous_close(stub: StubServer) -> None:
    stub.json(QUOTE, "yahoo_quote_success.json")
    fx = make(stub).fetch_quotes(["EURUSD=X"])["EURUSD=X"]
    assert fx.change == Decimal("0.0014")
    assert fx.change_percent == Decimal("0.1281")  # 0.0014 / 1.0931 * 100, 4 places
    assert fx.market_cap is None


def test_batch_with_one_unknown_symbol_keeps_the_others(stub: StubServer) -> None:
    stub.json(QUOTE, "yahoo_quote_batch_one_unknown.json")
    results = make(stub).fetch_quotes(["AAPL", "ZZZZNOTREAL", "MSFT"])
    assert results["AAPL"].success and results["MSFT"].success
    bad = results["ZZZZNOTREAL"]
    assert not bad.success and bad.price is None
    assert bad.error == "yahoo_finance: unknown symbol"


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("NANP", "price is not a finite number"),
        ("INFP", "price is not a finite number"),
        ("NEGP", "price must be positive"),
        ("ZERO", "price must be positive"),
        ("TEXT", "price is not numeric"),
        ("FUTR", "is in the future"),
        ("MISS", "missing field price"),
        ("NEGV", "volume must be a non-negative integer"),
        ("HILO", "high 10.0 is below low 12.0"),
        ("NOTS", "missing field regularMarketTime"),
    ],
)
def test_garbage_values_are_rejected_with_a_reason(stub: StubServer, symbol: str, reason: str) -> None:
    stub.json(QUOTE, "yahoo_quote_garbage.json")
    results = make(stub).fetch_quotes([symbol, "GOOD"])
    assert results["GOOD"].success
    assert not results[symbol].success
    assert reason in (results[symbol].error or "")


def test_429_raises_rate_limited_with_retry_after_and_is_not_retried(stub: StubServer) -> None:
    stub.route(QUOTE, Reply('{"finance":{"error":{"code":"Too Many Requests"}}}', 429, {"Retry-After": "30"}))
    with pytest.raises(RateLimitedError) as caught:
        make(stub, retries=3).fetch_quotes(["AAPL"])
    assert caught.value.retry_after == 30.0 and not caught.value.local
    assert len(stub.seen(QUOTE)) == 1


def test_500_is_retried_then_reported_as_transient(stub: StubServer) -> None:
    stub.route(QUOTE, Reply("<html>Internal Server Error</html>", 500))
    with pytest.raises(TransientSourceError, match="HTTP 500"):
        make(stub, retries=2).fetch_quotes(["AAPL"])
    assert len(stub.seen(QUOTE)) == 3


def test_500_then_success_recovers_on_retry(stub: StubServer) -> None:
    stub.route(QUOTE, [Reply("oops", 502), Reply(load_response("yahoo_quote_success.json"))])
    assert make(stub, retries=2).fetch_quotes(["AAPL"])["AAPL"].success
    assert len(stub.seen(QUOTE)) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_4xx_is_never_retried(stub: StubServer, status: int) -> None:
    stub.route(QUOTE, Reply('{"finance":{"error":{"code":"Bad Request"}}}', status))
    with pytest.raises(SourceError, match=f"HTTP {status}") as caught:
        make(stub, retries=3).fetch_quotes(["AAPL"])
    assert not isinstance(caught.value, TransientSourceError)
    assert len(stub.seen(QUOTE)) == 1


def test_timeout_is_transient_and_retried(stub: StubServer) -> None:
    stub.route(QUOTE, Reply(hang=True))
    with pytest.raises(TransientSourceError, match="timed out"):
        make(stub, retries=1, timeout=0.2).fetch_quotes(["AAPL"])
    assert len(stub.seen(QUOTE)) == 2


def test_connection_refused_is_transient_and_each_attempt_spends_rate_limit() -> None:
    source = YahooFinanceSource(base_url=f"http://127.0.0.1:{closed_port()}", retries=2, backoff=0)
    attempts: list[int] = []

    def permit() -> bool:
        attempts.append(1)
        return True

    source.bind_permit(permit)
    with pytest.raises(TransientSourceError, match="connection error"):
        source.fetch_quotes(["AAPL"])
    assert len(attempts) == 3


def test_malformed_json_is_a_source_error(stub: StubServer) -> None:
    stub.json(QUOTE, "yahoo_quote_truncated.txt")
    with pytest.raises(SourceError, match="malformed JSON"):
        make(stub).fetch_quotes(["AAPL"])


def test_wrong_shape_is_a_source_error(stub: StubServer) -> None:
    stub.route(QUOTE, Reply('{"quoteResponse": {"result": "nope", "error": null}}'))
    with pytest.raises(SourceError, match="unexpected response shape"):
        make(stub).fetch_quotes(["AAPL"])


def test_optional_api_key_is_sent_as_header(stub: StubServer) -> None:
    stub.json(QUOTE, "yahoo_quote_success.json")
    make(stub, api_key="k-123").fetch_quotes(["AAPL"])
    make(stub).fetch_quotes(["AAPL"])
    first, second = stub.seen(QUOTE)
    assert first.headers.get("X-API-KEY") == "k-123"
    assert "X-API-KEY" not in second.headers
    assert YahooFinanceSource().is_configured()  # the key is optional


def test_history_pairs_closes_skips_nulls_and_trims(stub: StubServer) -> None:
    path = "/v8/finance/chart/AAPL"
    stub.json(path, "yahoo_chart_aapl.json")
    points = make(stub).fetch_history("AAPL", 3)
    assert stub.seen(path)[0].query == {"range": "5d", "interval": "1d"}
    assert [p.price for p in points] == [
        Decimal("185.63999938964844"),
        Decimal("181.91000366210938"),
        Decimal("181.17999267578125"),
    ]
    assert points[-1].timestamp == datetime(2024, 1, 5, 14, 30, tzinfo=UTC)
    assert points[-1].volume == 62303300 and points[-1].source == "yahoo_finance"


def test_history_range_grows_with_days(stub: StubServer) -> None:
    path = "/v8/finance/chart/AAPL"
    stub.json(path, "yahoo_chart_aapl.json")
    make(stub).fetch_history("AAPL", 60)
    assert stub.seen(path)[0].query["range"] == "3mo"


def test_history_of_unknown_symbol(stub: StubServer) -> None:
    stub.json("/v8/finance/chart/NOPE", "yahoo_chart_not_found.json", status=404)
    with pytest.raises(UnknownSymbolError, match="No data found"):
        make(stub).fetch_history("NOPE", 5)


def test_absent_previous_close_is_unknown_not_invalid(stub: StubServer) -> None:
    stub.json(QUOTE, "yahoo_quote_garbage.json")
    result = make(stub).fetch_quotes(["NOPC"])["NOPC"]
    assert result.success and result.price == Decimal("11.0")
    assert result.previous_close is None and result.change is None and result.change_percent is None
