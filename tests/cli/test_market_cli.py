"""`flask prices update` on real providers at the replay server; `flask prices sources`; `assets set-currency`."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from cli import register_cli
from models import Asset, db
from tests.conftest import make_app
from tests.tasks.feed_support import stored_quotes
from tests.tasks.market_data.conftest import Reply, StubServer, load_response
from tests.tasks.market_data.replay import QUOTE_PATH, cookie_url, guarded, install_session

SYMBOLS = ("AAPL", "VOD.L", "^GSPC", "EURUSD=X", "BTC-USD")


@pytest.fixture
def replay() -> Iterator[StubServer]:
    """One replay server standing in for Yahoo (cookie URL included), Alpha Vantage and Finnhub."""
    server = StubServer()
    install_session(server)
    yield server
    server.close()


@pytest.fixture
def real_app(replay: StubServer) -> Iterator[Flask]:
    """The embedded SQLite app with the three real providers, every host at the replay server."""
    app = make_app({
        "DATABASE_URL": "sqlite://",
        "MARKET_DATA_SOURCE_PRIORITIES": "yahoo_finance:1,alpha_vantage:2,finnhub:3",
        "YAHOO_FINANCE_BASE_URL": replay.url, "YAHOO_FINANCE_COOKIE_URL": cookie_url(replay),
        "ALPHA_VANTAGE_BASE_URL": replay.url, "ALPHA_VANTAGE_API_KEY": "av-key",
        "FINNHUB_BASE_URL": replay.url, "FINNHUB_API_KEY": "fh-key",
        "MARKET_DATA_RETRIES": "0", "REALTIME_CACHE_TIMEOUT": "0",
    })
    register_cli(app)
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def currencies() -> dict[str, str]:
    return dict(db.session.execute(select(Asset.symbol, Asset.currency)).tuples().all())


def test_update_five_asset_classes_stores_price_and_currency_and_names_the_source(
    real_app: Flask, replay: StubServer
) -> None:
    replay.route(QUOTE_PATH, guarded(load_response("yahoo_quote_five_classes.json")))

    result = run(real_app, "prices", "update", "--symbols", *SYMBOLS, "--verbose")

    assert result.exit_code == 0, result.output
    assert "Updated 5/5 symbols" in result.output
    prices = {symbol: quote.price for symbol, quote in stored_quotes().items()}
    assert prices == {"AAPL": Decimal("181.18"), "VOD.L": Decimal("220.95"), "^GSPC": Decimal("4697.24"),
                      "EURUSD=X": Decimal("1.0945"), "BTC-USD": Decimal("44012.2")}
    assert currencies() == {"AAPL": "USD", "VOD.L": "GBp", "^GSPC": "USD", "EURUSD=X": "USD", "BTC-USD": "USD"}
    assert "VOD.L        220.95 GBp +5.050003" in result.output
    assert all(f"{symbol:<12}" in result.output for symbol in SYMBOLS)
    assert result.output.count("[yahoo_finance, changed") == 5
    assert "stale: market time 2017-11-09" in result.output  # VOD.L's recorded print is years old


def test_when_yahoo_is_throttled_each_symbol_falls_back_only_where_a_source_can_serve_it(
    real_app: Flask, replay: StubServer
) -> None:
    install_session(replay, crumbs=[Reply(load_response("yahoo_getcrumb_too_many_requests.txt"))])
    replay.json("/api/v1/quote", "finnhub_quote_aapl.json")
    replay.route("/query", lambda seen: Reply(load_response(
        "alpha_vantage_symbol_search_tesco.json" if seen.query["function"] == "SYMBOL_SEARCH"
        else "alpha_vantage_global_quote_tsco_lon.json")))

    result = run(real_app, "prices", "update", "--symbols", "TSCO.L", "^GSPC", "EURUSD=X", "--verbose")

    assert result.exit_code == 0, result.output
    assert "TSCO.L       284.6000 GBX" in result.output and "[alpha_vantage, changed" in result.output
    assert currencies() == {"TSCO.L": "GBX"}  # learnt from SYMBOL_SEARCH: never a USD default
    failed = result.output.split("Failed: ^GSPC")[1]
    assert "yahoo_finance: getcrumb throttled" in failed
    assert "alpha_vantage: serves no index symbols on the free plan" in failed
    assert "finnhub: serves no index symbols on the free plan" in failed


def test_sources_shows_the_form_and_the_reason(real_app: Flask) -> None:
    result = run(real_app, "prices", "sources", "vod.l")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "VOD.L (equity, exchange suffix .L)"
    assert "1. yahoo_finance  asks for VOD.L (same form, any plan), closed" in result.output
    assert "2. alpha_vantage  asks for VOD.LON (mapped, free plan), closed" in result.output
    assert "3. finnhub        cannot: serves no exchange suffix .L on the free plan" in result.output
    assert result.output.rstrip().endswith("Served by: yahoo_finance as VOD.L")


def test_sources_rejects_a_bad_symbol(real_app: Flask) -> None:
    result = run(real_app, "prices", "sources", "AA PL")
    assert result.exit_code == 2 and "invalid symbol: 'AA PL'" in result.output


def test_set_currency_corrects_an_asset_and_keeps_the_case(real_app: Flask) -> None:
    db.session.add(Asset(symbol="AZN.L", name="AstraZeneca", currency="USD"))
    db.session.commit()

    result = run(real_app, "assets", "set-currency", "azn.l", "GBp")

    assert result.exit_code == 0, result.output
    assert "AZN.L: currency GBp (was USD (a default, never stated))" in result.output
    stored = db.session.scalar(select(Asset).where(Asset.symbol == "AZN.L"))
    assert stored is not None and (stored.currency, stored.currency_source) == ("GBp", "manual")


@pytest.mark.parametrize(("args", "message"), [
    (("AZN.L", "pounds"), "'pounds' is not a currency code"),
    (("AZN.L", "gbp"), "'gbp' is not a currency code"),
    (("A/B", "USD"), "invalid symbol: 'A/B'"),
])
def test_set_currency_rejects_bad_input_and_changes_nothing(
    real_app: Flask, args: tuple[str, str], message: str
) -> None:
    result = run(real_app, "assets", "set-currency", *args)
    assert result.exit_code == 2 and message in result.output
    assert currencies() == {}
