"""Time-weighted and money-weighted returns (pure Decimal, no I/O); docs/portfolio.md defines both.

- TWR: the period is cut into daily sub-periods at each day-end value; a day's external
  flows (deposits, withdrawals, transfers) count at the start of that day:
  r_d = V_d / (V_{d-1} + F_d) - 1, and TWR = prod(1 + r_d) - 1. A day whose denominator
  is not positive (nothing invested) is skipped. Days without a value carry their flows
  to the next day with one.
- MWR: the XIRR of the period's cash flows seen from the investor: the starting value
  paid in at the start, deposits paid in (negative), withdrawals received (positive),
  the end value received at the end; annualised (365-day years). `mwr_period` is that
  rate over the period's own length, comparable with the TWR. The live MWR (live_returns) is
  annualised only for periods of a year or more: as GIPS rules, a shorter period's rate is
  never annualised (a day's 26% would annualise to 10^413 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, localcontext

# Enough digits for chained products and fractional powers; rates are shown to 2 places of a percent.
RETURN_CONTEXT = Context(prec=34)
# XIRR is found, not summed: 24 digits and a 1e-15 NPV tolerance are far below the 2 shown decimals of a
# percent, and keep the live path cheap (it runs for every revalued portfolio and period).
XIRR_CONTEXT = Context(prec=24)
NPV_TOLERANCE = Decimal("1e-15")
ONE = Decimal(1)
# Bisection runs on g = ln(1 + rate): from -99.9999% to e^1000 - 1 a year (a few days annualise wildly).
LOG_LOW, LOG_HIGH = Decimal(-14), Decimal(1000)
XIRR_STEPS = 90  # (1000 + 14) / 2^90: far finer than any shown rate


@dataclass(frozen=True)
class Flow:
    """An external flow into (+) or out of (-) the portfolio, in base."""

    at: datetime
    amount: Decimal


def _day(moment: datetime) -> date:
    return moment.date()


def daily_values(points: Sequence[tuple[datetime, Decimal]]) -> list[tuple[date, Decimal]]:
    """The last value of each day, oldest first."""
    last: dict[date, tuple[datetime, Decimal]] = {}
    for moment, value in points:
        day = _day(moment)
        if day not in last or moment >= last[day][0]:
            last[day] = (moment, value)
    return [(day, last[day][1]) for day in sorted(last)]


def time_weighted(start_value: Decimal, days: Sequence[tuple[date, Decimal]], flows: Sequence[Flow],
                  ) -> Decimal | None:
    """TWR over `days` (day-end values after the start) from `start_value`; None when no sub-period counts."""
    by_day: dict[date, Decimal] = {}
    for flow in flows:
        by_day[_day(flow.at)] = by_day.get(_day(flow.at), Decimal(0)) + flow.amount
    growth, counted, previous, carried = ONE, 0, start_value, Decimal(0)
    flow_days = sorted(by_day)
    with localcontext(RETURN_CONTEXT):
        for day, value in days:
            while flow_days and flow_days[0] <= day:
                carried += by_day[flow_days.pop(0)]
            invested = previous + carried
            if invested > 0:
                growth *= value / invested
                counted += 1
            previous, carried = value, Decimal(0)
        return growth - ONE if counted else None


def _years(start: datetime, moment: datetime) -> Decimal:
    return Decimal((moment - start).total_seconds()) / Decimal(365 * 86400)


def _npv(log_rate: Decimal, cash_flows: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Net present value at rate e^log_rate - 1 (discounting by e^(-log_rate x years))."""
    return sum((amount * (-log_rate * years).exp() for years, amount in cash_flows), Decimal(0))


def _timed(cash_flows: Sequence[tuple[datetime, Decimal]], unit: Decimal) -> list[tuple[Decimal, Decimal]]:
    """Each flow's time since the first, in units of `unit` years."""
    start = min(moment for moment, _ in cash_flows)
    return [(_years(start, moment) / unit, amount) for moment, amount in cash_flows]


def _log_xirr(cash_flows: Sequence[tuple[datetime, Decimal]], unit: Decimal = ONE) -> Decimal | None:
    """ln(1 + XIRR) per `unit` years by bisection; None without a sign change of the NPV."""
    with localcontext(XIRR_CONTEXT):
        return _bisect(cash_flows, unit)


def _bisect(cash_flows: Sequence[tuple[datetime, Decimal]], unit: Decimal) -> Decimal | None:
    """_log_xirr's search, in the caller's context."""
    timed = _timed(cash_flows, unit)
    low, high = LOG_LOW, LOG_HIGH
    npv_low, npv_high = _npv(low, timed), _npv(high, timed)
    if npv_low == 0 or npv_high == 0:
        return low if npv_low == 0 else high
    if (npv_low > 0) == (npv_high > 0):
        return None
    for _ in range(XIRR_STEPS):
        middle = (low + high) / 2
        npv_middle = _npv(middle, timed)
        if npv_middle == 0:
            return middle
        if (npv_middle > 0) == (npv_low > 0):
            low, npv_low = middle, npv_middle
        else:
            high = middle
    return (low + high) / 2


def xirr(cash_flows: Sequence[tuple[datetime, Decimal]]) -> Decimal | None:
    """The annual rate making the flows' net present value 0; None without a sign change."""
    if not cash_flows:
        return None
    with localcontext(RETURN_CONTEXT):
        log_rate = _log_xirr(cash_flows)
        return None if log_rate is None else log_rate.exp() - ONE


def money_weighted(start: datetime, start_value: Decimal, end: datetime, end_value: Decimal,
                   flows: Sequence[Flow]) -> tuple[Decimal | None, Decimal | None]:
    """(annualised XIRR, the same rate over the period's length) of the period's flows."""
    cash_flows = [(start, -start_value)] if start_value else []
    cash_flows += [(flow.at, -flow.amount) for flow in flows if start <= flow.at <= end]
    cash_flows.append((end, end_value))
    if len(cash_flows) < 2 or end <= start:
        return None, None
    with localcontext(RETURN_CONTEXT):
        log_rate = _log_xirr(cash_flows)
        if log_rate is None:
            return None, None
        return log_rate.exp() - ONE, (log_rate * _years(start, end)).exp() - ONE


@dataclass(frozen=True)
class PeriodBasis:
    """A period's returns up to the start of today, so a live value finishes them cheaply (live_returns)."""

    period: str
    start: datetime
    start_value: Decimal
    growth: Decimal  # TWR factor of the whole days before today
    counted: bool  # whether any whole day counted
    previous_end: Decimal  # the value at the end of yesterday (or at the start)
    flows: tuple[Flow, ...]  # external flows of the period before today
    log_guess: Decimal | None = None  # ln(1 + XIRR) found last time: Newton starts there


def period_basis(period: str, start: datetime, day_start: datetime,
                 points: Sequence[tuple[datetime, Decimal]], flows: Sequence[Flow]) -> PeriodBasis:
    """The basis of one period from day-end value points and external flows (both oldest first)."""
    before = [value for moment, value in points if moment <= start]
    start_value = before[-1] if before else Decimal(0)
    days = daily_values([(moment, value) for moment, value in points if start < moment < day_start])
    earlier = tuple(flow for flow in flows if start < flow.at < day_start)
    twr = time_weighted(start_value, days, earlier)
    previous_end = days[-1][1] if days else start_value
    # Flows after the last day-end value (or all, without one) count at the start of today.
    carried = sum((f.amount for f in earlier if not days or f.at.date() > days[-1][0]), Decimal(0))
    with localcontext(RETURN_CONTEXT):
        return PeriodBasis(period, start, start_value, ONE if twr is None else twr + ONE, twr is not None,
                           previous_end + carried, earlier)


def _newton(cash_flows: Sequence[tuple[datetime, Decimal]], guess: Decimal, unit: Decimal) -> Decimal | None:
    """ln(1 + XIRR) per `unit` years by Newton's method from `guess`; None when it does not settle soon."""
    with localcontext(XIRR_CONTEXT):
        return _newton_steps(cash_flows, guess, unit)


def _newton_steps(cash_flows: Sequence[tuple[datetime, Decimal]], guess: Decimal, unit: Decimal) -> Decimal | None:
    """_newton's iteration, in the caller's context."""
    timed = _timed(cash_flows, unit)
    scale = sum((abs(amount) for _, amount in timed), Decimal(0)) or ONE
    log_rate = guess
    for _ in range(8):
        terms = [(years, amount * (-log_rate * years).exp()) for years, amount in timed]
        npv = sum((term for _, term in terms), Decimal(0))
        if abs(npv) <= scale * NPV_TOLERANCE:
            return log_rate
        slope = -sum((years * term for years, term in terms), Decimal(0))
        if slope == 0:
            return None
        log_rate -= npv / slope
        if not LOG_LOW <= log_rate <= LOG_HIGH:
            return None
    return None


def live_returns(basis: PeriodBasis, now: datetime, value: Decimal, today: Sequence[Flow]
                 ) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(TWR, shown MWR, ln(1 + annual MWR)) of the period ending now at `value`, given today's flows."""
    with localcontext(RETURN_CONTEXT):
        invested = basis.previous_end + sum((flow.amount for flow in today), Decimal(0))
        twr = None
        if invested > 0:
            twr = basis.growth * value / invested - ONE
        elif basis.counted:
            twr = basis.growth - ONE
        cash_flows = [(basis.start, -basis.start_value)] if basis.start_value else []
        cash_flows += [(flow.at, -flow.amount) for flow in (*basis.flows, *today)]
        cash_flows.append((now, value))
        if len(cash_flows) < 2 or now <= basis.start:
            return twr, None, None
        # Solved per period (or per year, for a year or more): the shown rate, never annualised under a
        # year, and a search range that holds a day's gain (annualised it would be e^100000).
        unit = min(_years(basis.start, now), ONE)
        log_rate = None if basis.log_guess is None else _newton(cash_flows, basis.log_guess * unit, unit)
        if log_rate is None:
            log_rate = _log_xirr(cash_flows, unit)
        if log_rate is None:
            return twr, None, None
        return twr, log_rate.exp() - ONE, log_rate / unit
