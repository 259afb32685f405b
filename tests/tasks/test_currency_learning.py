"""An asset's currency through the pipeline: stated, learnt, converted, rejected; never a USD default."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from models import Asset, db
from tasks import pipeline
from tests.tasks.feed_support import StubSource, manager_of, quote, stored_quotes


class ReferenceSource(StubSource):
    """A scripted source that also has reference data (like Finnhub's profile2 or Alpha Vantage's search)."""

    def __init__(self, name: str, currencies: dict[str, str]) -> None:
        super().__init__(name)
        self.currencies = currencies

    def fetch_currency(self, symbol: str) -> str | None:
        return self.currencies.get(symbol)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request: pytest.FixtureRequest) -> Flask:
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


def asset(symbol: str) -> Asset | None:
    return db.session.scalar(select(Asset).where(Asset.symbol == symbol))


def test_stated_minor_unit_is_stored_as_stated(any_app: Flask) -> None:
    source = StubSource(quotes={"OCDO.L": replace(quote("OCDO.L", "308.8"), currency="GBp")})
    pipeline.process_batch(["OCDO.L"], manager=manager_of(source), publish=False)
    stored = asset("OCDO.L")
    assert stored is not None and (stored.currency, stored.currency_source) == ("GBp", "stub")
    assert stored_quotes()["OCDO.L"].price == Decimal("308.8")


def test_a_quote_without_currency_takes_one_learnt_from_reference_data(any_app: Flask) -> None:
    quoting = StubSource("alpha_vantage", {"AZN.L": replace(quote("AZN.L", "10442", source="alpha_vantage"),
                                                            currency=None)})
    reference = ReferenceSource("finnhub", {"AZN.L": "GBX"})
    batch = pipeline.process_batch(["AZN.L"], manager=manager_of(quoting, reference), publish=False)
    assert batch.failed == {}
    stored = asset("AZN.L")
    assert stored is not None and (stored.currency, stored.currency_source) == ("GBX", "finnhub")


def test_no_currency_anywhere_fails_the_quote_and_stores_no_usd(any_app: Flask) -> None:
    quoting = StubSource("alpha_vantage", {"AZN.L": replace(quote("AZN.L", "10442"), currency=None)})
    batch = pipeline.process_batch(["AZN.L"], manager=manager_of(quoting), publish=False)
    assert "states no currency and none is known" in batch.failed["AZN.L"]
    assert "flask assets set-currency AZN.L CCY" in batch.failed["AZN.L"]
    assert asset("AZN.L") is None and stored_quotes() == {}


def test_a_default_guess_is_replaced_by_the_first_stated_currency(any_app: Flask) -> None:
    db.session.add(Asset(symbol="VOD.L", name="Vodafone", currency="USD"))  # the old default, nobody stated it
    db.session.commit()
    source = StubSource(quotes={"VOD.L": replace(quote("VOD.L", "220.95"), currency="GBp")})
    pipeline.process_batch(["VOD.L"], manager=manager_of(source), publish=False)
    stored = asset("VOD.L")
    assert stored is not None and stored.currency == "GBp"


def test_same_money_in_another_unit_is_converted(any_app: Flask) -> None:
    db.session.add(Asset(symbol="VOD.L", name="Vodafone", currency="GBP", currency_source="manual"))
    db.session.commit()
    source = StubSource(quotes={"VOD.L": replace(quote("VOD.L", "220.95"), currency="GBp")})
    pipeline.process_batch(["VOD.L"], manager=manager_of(source), publish=False)
    stored = stored_quotes()["VOD.L"]
    assert stored.price == Decimal("2.2095") and stored.high == Decimal("2.2195")


def test_different_money_is_rejected_and_nothing_is_stored(any_app: Flask) -> None:
    db.session.add(Asset(symbol="VOD.L", name="Vodafone", currency="USD", currency_source="manual"))
    db.session.commit()
    source = StubSource(quotes={"VOD.L": replace(quote("VOD.L", "220.95"), currency="GBp")})
    batch = pipeline.process_batch(["VOD.L"], manager=manager_of(source), publish=False)
    assert batch.failed["VOD.L"] == ("stub: VOD.L is quoted in GBp but the asset is in USD; if the asset is wrong, "
                                     "correct it with: flask assets set-currency VOD.L GBp")
    assert stored_quotes() == {}
    stored = asset("VOD.L")
    assert stored is not None and stored.currency == "USD"


def test_a_quote_without_currency_uses_the_known_one(any_app: Flask) -> None:
    db.session.add(Asset(symbol="IBM", name="IBM", currency="USD", currency_source="yahoo_finance"))
    db.session.commit()
    quoting = StubSource("alpha_vantage", {"IBM": replace(quote("IBM", "159.16"), currency=None)})
    assert pipeline.process_batch(["IBM"], manager=manager_of(quoting), publish=False).failed == {}


def test_the_simulated_markets_usd_is_a_guess_that_a_real_provider_replaces(any_app: Flask) -> None:
    simulated = StubSource("simulated", {"VOD.L": quote("VOD.L", "220.95", source="simulated")})  # says USD
    pipeline.process_batch(["VOD.L"], manager=manager_of(simulated), publish=False)
    stored = asset("VOD.L")
    assert stored is not None and (stored.currency, stored.currency_source) == ("USD", None)
    yahoo = StubSource("yahoo_finance", {"VOD.L": replace(quote("VOD.L", "221.00", source="yahoo_finance"),
                                                          currency="GBp")})
    assert pipeline.process_batch(["VOD.L"], manager=manager_of(yahoo), publish=False).failed == {}
    db.session.expire_all()
    stored = asset("VOD.L")
    assert stored is not None and (stored.currency, stored.currency_source) == ("GBp", "yahoo_finance")
