"""The one rounding rule: every total is the sum of the positions' shown (rounded) base figures, to the cent."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from models.valuation import PortfolioInput, value_portfolio
from tests.models.test_valuation import NOW, cases


@settings(deadline=None, max_examples=300)
@given(cases())
def test_totals_are_sums_of_the_shown_position_figures(case: tuple[PortfolioInput, Any]) -> None:
    portfolio, fx = case
    shown = value_portfolio(portfolio, fx, NOW).as_dict()
    positions = shown["positions"]
    assert shown["total_value"] == sum(p["value_in_base"] for p in positions if p["value_in_base"] is not None)
    live = [p for p in positions if not p["stale"]]
    if shown["daily_change"] is not None:
        assert shown["daily_change"] == sum(p["daily_change_in_base"] for p in live
                                            if p["daily_change_in_base"] is not None)
    if shown["total_return"] is not None:
        assert shown["total_return"] == sum(p["unrealised_price_return"] + p["unrealised_currency_return"]
                                            for p in live)
