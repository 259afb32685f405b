"""TWR and XIRR (models.returns): worked examples and properties against an independent reference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, localcontext
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from models.returns import (
    ONE,
    Flow,
    PeriodBasis,
    daily_values,
    live_returns,
    money_weighted,
    time_weighted,
    xirr,
)

D = Decimal
T0 = datetime(2024, 1, 1, 21, tzinfo=UTC)


def test_twr_chains_daily_sub_periods_around_a_deposit() -> None:
    # Day 1: 1000 -> 1100 (+10%). Day 2: 1000 deposited, 2310 at the close: 2310 / (1100 + 1000) = +10%.
    # TWR = 1.10 x 1.10 - 1 = 21%; the deposit itself is no gain.
    days = [(date(2024, 1, 2), D(1100)), (date(2024, 1, 3), D(2310))]
    twr = time_weighted(D(1000), days, [Flow(datetime(2024, 1, 3, 10, tzinfo=UTC), D(1000))])
    assert twr == D("0.21")


def test_days_without_a_value_carry_their_flows_and_empty_days_are_skipped() -> None:
    flows = [Flow(datetime(2024, 1, 2, tzinfo=UTC), D(500))]
    # Nothing invested at the start: the first day counts from the deposit (500 -> 550: +10%).
    assert time_weighted(D(0), [(date(2024, 1, 3), D(550))], flows) == D("0.1")
    assert time_weighted(D(0), [(date(2024, 1, 3), D(0))], []) is None


def test_daily_values_keep_the_last_of_each_day() -> None:
    points = [(T0, D(1)), (T0 + timedelta(hours=1), D(2)), (T0 - timedelta(hours=1), D(3))]
    assert daily_values(points) == [(T0.date(), D(2))]


def test_xirr_of_a_year_at_ten_percent() -> None:
    rate = xirr([(T0, D(-1000)), (T0 + timedelta(days=365), D(1100))])
    assert rate is not None and abs(rate - D("0.1")) < D("1e-20")
    assert xirr([(T0, D(100)), (T0 + timedelta(days=1), D(100))]) is None  # no sign change: no rate


def test_money_weighted_over_half_a_year() -> None:
    # 1000 at the start, 1000 more after 182.5 days, 2100 at the end of the year.
    end = T0 + timedelta(days=365)
    annual, period = money_weighted(T0, D(1000), end, D(2100), [Flow(T0 + timedelta(days=182.5), D(1000))])
    assert annual is not None and period is not None
    # Check the root independently: 1000 (1+r) + 1000 (1+r)^0.5 = 2100.
    r = float(annual)
    assert abs(1000 * (1 + r) + 1000 * (1 + r) ** 0.5 - 2100) < 1e-6
    assert abs(period - annual) < D("1e-20")  # a one-year period: the same rate


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(-5000, 5000)), min_size=1, max_size=20),
       st.integers(1, 10**6))
def test_twr_matches_reference(steps: list[tuple[int, int]], start: int) -> None:
    """Reference: product over days of V_d / (V_{d-1} + F_d), in Fractions."""
    days = [(date(2024, 1, 2) + timedelta(days=n), D(value) / 100) for n, (value, _) in enumerate(steps)]
    flows = [Flow(datetime.combine(day, datetime.min.time(), UTC), D(flow) / 100)
             for (day, _), (_, flow) in zip(days, steps, strict=True) if flow]
    growth, previous, counted = Fraction(1), Fraction(start, 100), 0
    for value, flow in steps:
        invested = previous + Fraction(flow, 100)
        if invested > 0:
            growth *= Fraction(value, 100) / invested
            counted += 1
        previous = Fraction(value, 100)
    result = time_weighted(D(start) / 100, days, flows)
    if counted == 0:
        assert result is None
    else:
        assert result is not None and abs(Fraction(result) - (growth - 1)) <= max(abs(growth), 1) * Fraction(1, 10**25)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 700), st.integers(1, 10**6)), min_size=1, max_size=8),
       st.integers(1, 10**6), st.integers(1, 10**7))
def test_xirr_is_a_root_of_the_npv(deposits: list[tuple[int, int]], first: int, end_value: int) -> None:
    """Whatever rate is found makes the NPV of the flows 0 (checked in floats, independently)."""
    flows = [(T0, D(-first))] + [(T0 + timedelta(days=day), D(-amount)) for day, amount in deposits]
    flows.append((T0 + timedelta(days=800), D(end_value)))
    rate = xirr(flows)
    if rate is None:
        return
    # The NPV changes sign across the rate (computed at 60 digits here, independently of the product).
    with localcontext(Context(prec=60)):
        def npv(r: Decimal) -> Decimal:
            return sum((amount / (1 + r) ** (Decimal((moment - T0).days) / 365) for moment, amount in flows), D(0))

        step = max(abs(rate), D(1)) * D("1e-12")
        low, high = npv(rate - step), npv(rate + step)
        assert low == 0 or high == 0 or (low > 0) != (high > 0)


def test_a_period_under_a_year_is_never_annualised() -> None:
    # 1200 at midnight, 1520 a minute later: annualised that is ~10^413 %, which no JSON reader can hold.
    midnight = datetime(2026, 11, 30, tzinfo=UTC)
    basis = PeriodBasis("1D", midnight, D(1200), ONE, False, D(1200), ())
    twr, mwr, log_rate = live_returns(basis, midnight + timedelta(minutes=1), D(1520), ())
    assert log_rate is not None and log_rate > 100000  # per year: far beyond any search range
    assert twr is not None and mwr is not None
    assert abs(mwr - D("0.2666666666666666666")) < D("1e-15") and abs(twr - mwr) < D("1e-15")


def test_a_period_of_a_year_or_more_is_annualised() -> None:
    # 1000 -> 1210 over two years: 10% a year.
    start, end = T0, T0 + timedelta(days=730)
    basis = PeriodBasis("ALL", start, D(1000), ONE, False, D(1000), ())
    _, mwr, _ = live_returns(basis, end, D(1210), ())
    assert mwr is not None and abs(mwr - D("0.1")) < D("1e-15")
    # Newton from the cached guess lands on the same rate.
    guessed = PeriodBasis("ALL", start, D(1000), ONE, False, D(1000), (), D("0.09"))
    newton = live_returns(guessed, end, D(1210), ())[1]
    assert newton is not None and abs(newton - mwr) < D("1e-15")
