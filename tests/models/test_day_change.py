"""Day change across currencies, worked by hand (the issue's SAP FX day and bought-today cases)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from models.day_change import day_change, day_reference
from models.valuation import FxRate, PortfolioInput, PositionInput, value_portfolio

D = Decimal
NOW = datetime(2024, 1, 15, 15, 30, tzinfo=UTC)


def sap(**extra: object) -> PositionInput:
    return PositionInput(1, "SAP", D(20), D("2500"), "EUR", D("120.50"), D("121"), NOW, **extra)  # type: ignore[arg-type]


def test_sap_fx_day() -> None:
    # 20 x 120.50 = 2410.00 EUR x 1.155 = 2783.55 USD; previous close 20 x 121 = 2420 EUR x 1.08 = 2613.60 USD
    # day change +169.95 USD (the old rule, previous close at today's rate, said 2783.55 - 2795.10 = -11.55)
    result = value_portfolio(PortfolioInput(1, "p", "USD", (sap(),)), {"EURUSD=X": FxRate(D("1.155"))}, NOW,
                             previous_fx_rates={"EURUSD=X": FxRate(D("1.08"))})
    assert (result.total_value, result.daily_change) == (D("2783.55"), D("169.95"))
    position = result.as_dict()["positions"][0]
    assert (position["daily_change"], position["daily_change_in_base"]) == (D("-10.00"), D("169.95"))


def test_bought_today_moves_from_its_trade_price() -> None:
    # 10 bought today at 155 (previous close 150), now 152: 1520 - 1550 = -30.00, not 1520 - 1500 = +20.00
    bought = PositionInput(2, "AAPL", D(10), D(1550), "USD", D(152), D(150), NOW,
                           opening_quantity=D(0), day_flow=D(1550), day_flow_base=D(1550))
    result = value_portfolio(PortfolioInput(1, "p", "USD", (bought,)), {}, NOW)
    assert (result.total_value, result.daily_change, result.as_dict()["daily_change_percent"]) == (
        D("1520.00"), D("-30.00"), D("-1.94"))  # -30 / 1550


def test_cost_at_trade_fx_splits_the_return_into_price_and_currency() -> None:
    # EUR 2,000 of cost bought at EURUSD 1.20 = $2,400; the position is worth EUR 2,000 still.
    for rate, currency_part in (("1.20", "0.00"), ("1.05", "-300.00")):
        held = PositionInput(3, "SAP", D(20), D(2000), "EUR", D(100), D(100), NOW, cost_basis_base=D(2400))
        result = value_portfolio(PortfolioInput(1, "p", "USD", (held,)), {"EURUSD=X": FxRate(D(rate))}, NOW)
        position = result.as_dict()["positions"][0]
        assert result.total_return == D(currency_part)  # 2000 x rate - 2400
        assert (position["unrealised_price_return"], position["unrealised_currency_return"]) == (
            D("0.00"), D(currency_part))


def test_day_reference_edges() -> None:
    assert day_reference(D(0), None, None, D(5)) == D(5)  # opened today: only its trades count
    assert day_reference(D(3), None, D(1), D(0)) is None  # no previous close: unknown, not made up
    assert day_reference(D(-2), D(10), D("1.5"), D(0)) == D(-30)  # a short's reference is negative
    assert day_change(D(1), None) is None


@settings(max_examples=300, deadline=None)
@given(held=st.integers(-500, 500), bought=st.integers(0, 50), price=st.integers(1, 100000),
       prev=st.integers(1, 100000), trade=st.integers(1, 100000), fx_now=st.integers(50, 200),
       fx_prev=st.integers(50, 200), fx_trade=st.integers(50, 200))
def test_day_change_matches_reference(*, held: int, bought: int, price: int, prev: int, trade: int,
                                      fx_now: int, fx_prev: int, fx_trade: int) -> None:
    """Reference: value now at FX now - opening holding at previous close and previous FX - today's buys at cost."""
    cents, rate = Fraction(1, 100), Fraction(1, 100)
    expected = ((held + bought) * price * cents * fx_now * rate - held * prev * cents * fx_prev * rate
                - bought * trade * cents * fx_trade * rate)
    flow = D(bought) * D(trade) / 100
    position = PositionInput(1, "SAP", D(held + bought), D(1), "EUR", D(price) / 100, D(prev) / 100, NOW,
                             opening_quantity=D(held), day_flow=flow, day_flow_base=flow * D(fx_trade) / 100)
    result = value_portfolio(PortfolioInput(1, "p", "USD", (position,)), {"EURUSD=X": FxRate(D(fx_now) / 100)},
                             NOW, previous_fx_rates={"EURUSD=X": FxRate(D(fx_prev) / 100)})
    # Rounding rule: the total's change is the rounded value minus the rounded reference (cents).
    assert result.daily_change is not None
    assert abs(Fraction(result.daily_change) - expected) <= Fraction(1, 100)
    assert result.daily_change == result.total_value - result.previous_value


def test_transfers_today_count_from_the_previous_close_and_buys_from_their_price() -> None:
    from models.ledger import Entry, day_activity

    today = [Entry("transfer_in", NOW, "AAPL", D(50), D(150), "USD", id=1),
             Entry("buy", NOW, "AAPL", D(10), D(155), "USD", D(1), id=2),
             Entry("sell", NOW, "MSFT", D(5), D(300), "USD", D(2), id=3)]
    activity = day_activity(today, {"AAPL": D(60), "MSFT": D(25)})
    # AAPL: the 50 transferred count as held at the previous close; the 10 bought cost 1551 with the fee.
    assert (activity["AAPL"].opening_quantity, activity["AAPL"].flow) == (D(50), D(1551))
    # MSFT: 30 held at the close, 5 sold bringing 1498 (the reference drops by that much).
    assert (activity["MSFT"].opening_quantity, activity["MSFT"].flow) == (D(30), D(-1498))
