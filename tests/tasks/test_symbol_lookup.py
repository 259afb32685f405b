"""The provider lookup behind socket symbol requests: a verdict only when the providers really answered."""

from __future__ import annotations

import pytest
from flask import Flask

from tasks.wiring import symbol_lookup, symbol_verdict
from tests.conftest import make_app


@pytest.mark.parametrize(("success", "reason", "verdict"), [
    (True, None, True),
    (False, "yahoo_finance: unknown symbol", False),
    (False, "simulated: simulated failure", False),
    (False, "finnhub: timed out after 10s", None),
    (False, "alpha_vantage: cooling down for 40s after throttling", None),
    (False, "yahoo_finance: circuit open after repeated failures", None),
    (False, "no market data source configured", None),
    (False, "", None),
])
def test_verdicts(success: bool, reason: str | None, verdict: bool | None) -> None:
    assert symbol_verdict(success, reason) is verdict


def test_lookup_asks_the_configured_providers() -> None:
    app: Flask = make_app({"DATABASE_URL": "sqlite://", "SIMULATED_FAIL_SYMBOLS": "NOPE"})
    with app.app_context():
        assert symbol_lookup(app)(["AAPL", "NOPE"]) == {"AAPL": True, "NOPE": False}
