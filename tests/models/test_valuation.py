"""Portfolio valuation math (models.valuation): hand-computed examples and properties.

Over 300 lines: each hand-computed example spells out its inputs and every expected figure, so a reader
can check the arithmetic without running it; they share one set of fixtures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.currency import money_places
from models.valuation import (
    FxRate,
    PortfolioInput,
    PositionInput,
    fx_symbols_needed,
    value_portfolio,
    value_position,
)

D = Decimal
NOW = datetime(2024, 1, 15, 15, 30, tzinfo=UTC)
AS_OF = NOW - timedelta(seconds=90, milliseconds=700)
RATES = {"EURUSD=X": FxRate(D("1.10"), NOW), "GBPUSD=X": FxRate(D("1.25"), NOW)}


def pos(
    pid: int,
    symbol: str,
    quantity: str,
    cost: str,
    currency: str,
    *,
    price: str | None = None,
    prev: str | None = None,
    last: str | None = None,
    as_of: datetime | None = AS_OF,
) -> PositionInput:
    """A PositionInput from strings (readable tables of hand-computed cases)."""
    return PositionInput(
        position_id=pid,
        symbol=symbol,
        quantity=D(quantity),
        cost_basis=D(cost),
        currency=currency,
        price=None if price is None else D(price),
        previous_close=None if prev is None else D(prev),
        price_as_of=as_of if price is not None else None,
        last_published_value=None if last is None else D(last),
    )


# AAPL: 10 x 150.25 = 1502.50 USD; prev 10 x 148 = 1480.00; daily +22.50
#       (22.50 / 1480 = 1.5203% -> 1.52); return 1502.50 - 1400 = 102.50 (7.3214% -> 7.32)
AAPL = pos(1, "AAPL", "10", "1400.00", "USD", price="150.25", prev="148.00")
# SAP (a loss): 20 x 120.50 = 2410.00 EUR; prev 2420.00; daily -10.00 (-0.4132% -> -0.41)
#       return 2410 - 2500 = -90.00 (-3.60%); in USD: 2410 x 1.10 = 2651.00, prev 2662.00,
#       cost 2500 x 1.10 = 2750.00
SAP = pos(2, "SAP", "20", "2500.00", "EUR", price="120.50", prev="121.00")
# VOD in pence: 1000 x 72.34p = 72340p = 723.40 GBP = 723.40 x 1.25 = 904.25 USD;
#       prev 71900p = 898.75 USD; daily +440p (0.6120% -> 0.61); cost 80000p = 1000.00 USD;
#       return -7660p (-9.575% -> -9.58, the exact half rounds to even)
VOD = pos(3, "VOD.L", "1000", "80000", "GBp", price="72.34", prev="71.90")
MIXED = PortfolioInput(7, "Growth", "USD", (AAPL, SAP, VOD))


def test_mixed_currency_portfolio_by_hand() -> None:
    result = value_portfolio(MIXED, RATES, NOW).as_dict()
    # total 1502.50 + 2651.00 + 904.25 = 5057.75; prev 1480.00 + 2662.00 + 898.75 = 5040.75
    assert result["total_value"] == D("5057.75")
    assert result["daily_change"] == D("17.00")
    assert result["daily_change_percent"] == D("0.34")  # 17 / 5040.75 = 0.3373%
    # cost 1400 + 2750 + 1000 = 5150.00; return 5057.75 - 5150 = -92.25 (-1.7913%)
    assert result["total_cost"] == D("5150.00")
    assert result["total_return"] == D("-92.25")
    assert result["total_return_percent"] == D("-1.79")
    assert (result["stale_value"], result["stale_share_percent"]) == (D("0.00"), D("0"))
    assert result["stale_positions"] == 0
    assert result["value_changed"] is True
    assert result["as_of"] == "2024-01-15T15:28:29.300000Z"  # times end in Z
    aapl, sap, vod = result["positions"]
    assert aapl == {
        "position_id": 1,
        "symbol": "AAPL",
        "quantity": D("10"),
        "current_price": D("150.25"),
        "current_value": D("1502.50"),
        "cost_basis": D("1400.00"),
        "daily_change": D("22.50"),
        "daily_change_percent": D("1.52"),
        "total_return": D("102.50"),
        "total_return_percent": D("7.32"),
        "weight": D("29.71"),  # 1502.50 / 5057.75
        "currency": "USD",
        "value_in_base": D("1502.50"),
        "cost_basis_in_base": D("1400.00"),
        "daily_change_in_base": D("22.50"),
        "unrealised_price_return": D("102.50"),
        "unrealised_currency_return": D("0.00"),
        "stale": False,
        "stale_reason": None,
        "price_age_seconds": 90,
        "significant_change": True,  # first valuation, |1.52%| > 1%
    }
    assert (sap["current_value"], sap["value_in_base"]) == (D("2410.00"), D("2651.00"))
    assert (sap["daily_change"], sap["daily_change_percent"]) == (D("-10.00"), D("-0.41"))
    assert (sap["total_return"], sap["total_return_percent"]) == (D("-90.00"), D("-3.60"))
    assert (sap["weight"], sap["significant_change"]) == (D("52.41"), False)
    assert (vod["current_value"], vod["value_in_base"]) == (D("72340"), D("904.25"))
    assert (vod["daily_change"], vod["daily_change_percent"]) == (D("440"), D("0.61"))
    assert (vod["total_return"], vod["total_return_percent"]) == (D("-7660"), D("-9.58"))
    assert vod["weight"] == D("17.88")


def test_value_changed_against_previous_total() -> None:
    assert value_portfolio(MIXED, RATES, NOW, D("5057.75")).value_changed is False
    assert value_portfolio(MIXED, RATES, NOW, D("5057.74")).value_changed is True


def test_position_without_price_is_stale_and_reported() -> None:
    # NEW has no price yet but was last published at 500.00 USD; IPO has nothing at all.
    new = pos(4, "NEW", "5", "450.00", "USD", last="500.00")
    ipo = pos(5, "IPO", "1", "10.00", "USD")
    result = value_portfolio(PortfolioInput(7, "Growth", "USD", (AAPL, SAP, VOD, new, ipo)), RATES, NOW).as_dict()
    # 5057.75 live + 500.00 last known = 5557.75; stale share 500 / 5557.75 = 8.9964%
    assert result["total_value"] == D("5557.75")
    assert result["stale_value"] == D("500.00")
    assert result["stale_share_percent"] == D("9.00")
    assert result["stale_positions"] == 2
    # cost, return and daily change cover the live positions only: unchanged from above
    assert (result["total_cost"], result["total_return"]) == (D("5150.00"), D("-92.25"))
    assert result["daily_change"] == D("17.00")
    by_symbol = {p["symbol"]: p for p in result["positions"]}
    assert by_symbol["NEW"]["stale"] is True
    assert by_symbol["NEW"]["stale_reason"] == "no_price"
    assert by_symbol["NEW"]["current_value"] is None
    assert by_symbol["NEW"]["value_in_base"] == D("500.00")
    assert by_symbol["NEW"]["weight"] == D("9.00")
    assert by_symbol["NEW"]["significant_change"] is False
    assert by_symbol["IPO"]["value_in_base"] is None
    assert by_symbol["IPO"]["weight"] is None
    assert by_symbol["IPO"]["price_age_seconds"] is None
    assert by_symbol["IPO"]["total_return"] is None


def test_missing_fx_rate_keeps_local_figures_but_no_base_value() -> None:
    nestle = pos(6, "NESN.SW", "10", "900.00", "CHF", price="95.00", prev="94.00")
    result = value_portfolio(PortfolioInput(7, "P", "USD", (AAPL, nestle)), RATES, NOW)
    swiss = result.as_dict()["positions"][1]
    assert swiss["stale"] is True
    assert swiss["stale_reason"] == "no_fx_rate"
    # The CHF figures are real (no FX needed); the USD value is unknown, not invented.
    assert (swiss["current_value"], swiss["daily_change"]) == (D("950.00"), D("10.00"))
    assert swiss["value_in_base"] is None
    assert result.total_value == D("1502.50")
    assert result.stale_positions == 1
    assert result.stale_value == D("0.00")


def test_zero_quantity_and_zero_cost_basis_do_not_divide() -> None:
    old = pos(8, "OLD", "0", "0", "USD", price="10", prev="9")
    closed = value_position(old, RATES, "USD", NOW)
    assert closed.as_dict()["current_value"] == D("0.00")
    assert closed.as_dict()["daily_change"] == D("0.00")
    assert closed.daily_change_percent is None  # previous value 0: no percentage
    assert closed.total_return_percent is None
    # A gift or spin-off: 5 x 10 = 50 of pure gain over a zero cost basis.
    spin = pos(9, "SPIN", "5", "0", "USD", price="10", prev="10")
    gift = value_position(spin, RATES, "USD", NOW)
    assert gift.as_dict()["total_return"] == D("50.00")
    assert gift.total_return_percent is None
    assert gift.as_dict()["daily_change_percent"] == D("0.00")


def test_jpy_base_rounds_to_whole_yen() -> None:
    rates = {"USDJPY=X": FxRate(D("150.123"))}
    # 3 x 33.333 = 99.999 USD x 150.123 = 15012.149877 JPY -> 15012
    usd = pos(1, "X", "3", "90", "USD", price="33.333")
    # 5 x 1728.5 = 8642.5 JPY -> 8642 (half to even)
    jpy = pos(2, "7203.T", "5", "8000", "JPY", price="1728.5")
    result = value_portfolio(PortfolioInput(1, "JP", "JPY", (usd, jpy)), rates, NOW)
    values = [p["value_in_base"] for p in result.as_dict()["positions"]]
    assert values == [D("15012"), D("8642")]
    assert result.total_value == D("23654")
    assert result.daily_change is None  # no previous close anywhere: unknown, not zero
    assert result.as_dict()["positions"][1]["current_value"] == D("8642")


def test_inverse_fx_quote_is_used() -> None:
    # EUR base with only EURUSD=X: 1502.50 USD / 1.10 = 1365.909... -> 1365.91 EUR
    result = value_portfolio(PortfolioInput(1, "E", "EUR", (AAPL,)), RATES, NOW)
    assert result.total_value == D("1365.91")


def test_significant_change_against_last_published_value() -> None:
    def significant(last: str) -> bool:
        position = pos(1, "A", "1", "1000", "USD", price="1010.00", last=last)
        return value_position(position, {}, "USD", NOW).significant_change

    assert significant("1000.00") is False  # exactly 1% is not more than 1%
    assert significant("999.99") is True
    assert significant("1010.00") is False
    assert significant("0") is True


def test_price_age_never_negative_and_naive_means_utc() -> None:
    future = pos(1, "A", "1", "1", "USD", price="1", as_of=NOW + timedelta(seconds=5))
    assert value_position(future, {}, "USD", NOW).price_age_seconds == 0
    minute_ago = datetime(2024, 1, 15, 15, 29)  # naive
    naive = pos(1, "A", "1", "1", "USD", price="1", as_of=minute_ago)
    assert value_position(naive, {}, "USD", NOW).price_age_seconds == 60


def test_empty_portfolio() -> None:
    result = value_portfolio(PortfolioInput(1, "Empty", "USD", ()), {}, NOW).as_dict()
    assert result["total_value"] == D("0.00")
    assert result["daily_change"] is None
    assert result["total_return"] is None
    assert result["positions"] == []
    assert result["as_of"] is None


# --- properties -------------------------------------------------------------------------

CURRENCIES = ["USD", "EUR", "GBp", "JPY", "KWD", "CHF"]
BASES = ["USD", "EUR", "GBP", "JPY", "KWD"]
amounts = st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=4, allow_nan=False)
prices = st.decimals(min_value=D("0"), max_value=D("100000"), places=4, allow_nan=False)
rates = st.decimals(min_value=D("0.001"), max_value=D("1000"), places=6, allow_nan=False)


@st.composite
def positions(draw: st.DrawFn, pid: int) -> PositionInput:
    """Any position: maybe no price, maybe no previous close, maybe a last value."""
    return PositionInput(
        position_id=pid,
        symbol=f"S{pid}",
        quantity=draw(amounts),
        cost_basis=draw(st.decimals(min_value=D("0"), max_value=D("1e9"), places=2)),
        currency=draw(st.sampled_from(CURRENCIES)),
        price=draw(st.none() | prices),
        previous_close=draw(st.none() | prices),
        price_as_of=draw(st.none() | st.just(AS_OF)),
        last_published_value=draw(st.none() | amounts),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[PortfolioInput, dict[str, FxRate]]:
    """A portfolio plus FX rates where each needed quote is direct, inverse or missing."""
    base = draw(st.sampled_from(BASES))
    n = draw(st.integers(min_value=0, max_value=8))
    held = tuple(draw(positions(i)) for i in range(n))
    fx: dict[str, FxRate] = {}
    for symbol in sorted(fx_symbols_needed(CURRENCIES, base)):
        how = draw(st.sampled_from(["direct", "inverse", "missing"]))
        if how == "direct":
            fx[symbol] = FxRate(draw(rates))
        elif how == "inverse":
            fx[symbol[3:6] + symbol[:3] + "=X"] = FxRate(draw(rates))
    return PortfolioInput(1, "P", base, held), fx


def walk(value: Any) -> list[Any]:
    """Every leaf of a nested as_dict() output."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in walk(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in walk(v)]
    return [value]


@settings(deadline=None)
@given(cases())
def test_total_is_sum_of_rounded_positions(case: tuple[PortfolioInput, Any]) -> None:
    portfolio, fx = case
    result = value_portfolio(portfolio, fx, NOW).as_dict()
    shown = [p["value_in_base"] for p in result["positions"]]
    assert result["total_value"] == sum((v for v in shown if v is not None), D(0))
    stale = [p["value_in_base"] for p in result["positions"] if p["stale"]]
    assert result["stale_value"] == sum((v for v in stale if v is not None), D(0))
    assert result["stale_positions"] == len(stale)
    assert len(result["positions"]) == len(portfolio.positions)  # nothing dropped
    exponent = -money_places(portfolio.base_currency)
    for money in [result["total_value"], result["stale_value"], *shown]:
        assert money is None or money.as_tuple().exponent == exponent


@settings(deadline=None)
@given(cases())
def test_no_float_anywhere(case: tuple[PortfolioInput, Any]) -> None:
    portfolio, fx = case
    for leaf in walk(value_portfolio(portfolio, fx, NOW).as_dict()):
        assert not isinstance(leaf, float)
        assert leaf is None or isinstance(leaf, (Decimal, int, bool, str))
        assert not isinstance(leaf, Decimal) or leaf.is_finite()


def sign(x: Decimal) -> int:
    """-1, 0 or 1."""
    return (x > 0) - (x < 0)


@settings(deadline=None)
@given(cases())
def test_daily_change_signs_are_consistent(case: tuple[PortfolioInput, Any]) -> None:
    portfolio, fx = case
    result = value_portfolio(portfolio, fx, NOW)
    moves = []
    for given_pos, valued in zip(portfolio.positions, result.positions, strict=True):
        if valued.daily_change is None:
            continue
        assert given_pos.price is not None
        assert given_pos.previous_close is not None
        move = given_pos.price - given_pos.previous_close
        assert sign(valued.daily_change) == sign(given_pos.quantity) * sign(move)
        rounded = valued.as_dict()["daily_change_percent"]
        assert rounded is None or sign(rounded) in (0, sign(valued.daily_change))
        if not valued.stale:
            moves.append(sign(valued.daily_change))
    if result.daily_change is not None:
        if all(m >= 0 for m in moves):
            assert result.daily_change >= 0
        if all(m <= 0 for m in moves):
            assert result.daily_change <= 0
        pct = result.daily_change_percent
        assert pct is None or sign(pct) == sign(result.daily_change)


@settings(deadline=None)
@given(
    st.lists(st.tuples(prices, prices, st.decimals(0, 10000, places=3)), max_size=6),
    st.booleans(),
)
def test_all_rising_means_portfolio_rising(rows: list[tuple[Decimal, Decimal, Decimal]], up: bool) -> None:
    held = tuple(
        PositionInput(i, f"S{i}", qty, D(0), "EUR", hi if up else lo, lo if up else hi, AS_OF)
        for i, (a, b, qty) in enumerate(rows)
        for lo, hi in [(min(a, b), max(a, b))]
    )
    fx = {"EURUSD=X": FxRate(D("1.0837"))}
    change = value_portfolio(PortfolioInput(1, "P", "USD", held), fx, NOW).daily_change
    assert change is None or (change >= 0 if up else change <= 0)
