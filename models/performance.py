"""Returns over 1D, 1W, 1M, YTD, 1Y and ALL from day-end snapshots and external flows (models.returns does the maths).

Periods start at a UTC midnight (1D: today so far; 1W: 7 days before today; 1M: the same day of the
previous month, or its last day; YTD: 1 January; 1Y: 365 days before; ALL: just before the first
transaction or snapshot).
Whole days before today are summarised once a day per portfolio (a PeriodBasis, cached in
portfolios.returns_basis and dropped when the ledger changes), so each live valuation only adds
today: three queries for a whole batch of portfolios, none for a cached one.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select, update

from models.base import db
from models.currency import round_money, round_percent
from models.ledger import FLOW_TYPES, external_flow
from models.ledger_store import entry_of
from models.market import Asset
from models.portfolio import Portfolio, PortfolioValue, Transaction
from models.portfolio_loading import day_start_of
from models.returns import Flow, PeriodBasis, daily_values, live_returns, period_basis
from protocol.wire import iso

PERIODS = ("1D", "1W", "1M", "YTD", "1Y", "ALL")
_DAYS = {"1D": 0, "1W": 7, "1Y": 365}
PERIOD_ERROR = f"period must be one of {', '.join(PERIODS)}"


def period_start(period: str, day_start: datetime, first: datetime | None) -> datetime:
    """When `period` began, for a day starting at `day_start` (UTC midnight)."""
    if period in _DAYS:
        return day_start - timedelta(days=_DAYS[period])
    if period == "1M":
        # The same day of the previous month, or its last day when it is shorter (31 March -> 28 February).
        month, year = (day_start.month - 2) % 12 + 1, day_start.year - (day_start.month == 1)
        return day_start.replace(year=year, month=month, day=min(day_start.day, monthrange(year, month)[1]))
    if period == "YTD":
        return datetime(day_start.year, 1, 1, tzinfo=UTC)
    # Just before the first record, so a first deposit counts as a flow of the period.
    return min(first, day_start) - timedelta(seconds=1) if first else day_start


def _day_expression() -> ColumnElement[Any]:
    """The UTC calendar day of a snapshot, on either backend."""
    if db.engine.dialect.name == "postgresql":
        return cast(func.timezone("UTC", PortfolioValue.timestamp), Date)
    return func.date(PortfolioValue.timestamp)


def day_end_points(portfolio_ids: list[int], before: datetime) -> dict[int, list[tuple[datetime, Decimal]]]:
    """The last snapshot of each day before `before`, per portfolio, oldest first, in one query."""
    last_ids = (select(func.max(PortfolioValue.id))
                .where(PortfolioValue.portfolio_id.in_(portfolio_ids), PortfolioValue.timestamp < before)
                .group_by(PortfolioValue.portfolio_id, _day_expression()))
    rows = db.session.execute(
        select(PortfolioValue.portfolio_id, PortfolioValue.timestamp, PortfolioValue.total_value)
        .where(PortfolioValue.id.in_(last_ids)).order_by(PortfolioValue.timestamp)
    ).all()
    points: dict[int, list[tuple[datetime, Decimal]]] = {pid: [] for pid in portfolio_ids}
    for row in rows:
        points[row.portfolio_id].append((row.timestamp, row.total_value))
    return points


def flows_of(portfolio_ids: list[int], since: datetime | None = None) -> dict[int, list[Flow]]:
    """External flows in base (deposits, withdrawals, transfers) per portfolio, oldest first, in one query."""
    where: list[ColumnElement[bool]] = [Transaction.portfolio_id.in_(portfolio_ids), Transaction.kind.in_(FLOW_TYPES)]
    if since is not None:
        where.append(Transaction.executed_at >= since)
    rows = db.session.execute(
        select(Transaction, Asset.symbol).outerjoin(Asset, Asset.id == Transaction.asset_id)
        .where(*where).order_by(Transaction.executed_at, Transaction.id)
    ).all()
    flows: dict[int, list[Flow]] = {pid: [] for pid in portfolio_ids}
    for tx, symbol in rows:
        amount = external_flow(entry_of(tx, symbol))
        if amount is not None:
            flows[tx.portfolio_id].append(Flow(tx.executed_at, amount))
    return flows


def compute_bases(portfolio_ids: Iterable[int], day_start: datetime) -> dict[int, dict[str, PeriodBasis]]:
    """Each portfolio's PeriodBasis of every period, in three queries for all of them."""
    ids = sorted(set(portfolio_ids))
    if not ids:
        return {}
    points, flows = day_end_points(ids, day_start), flows_of(ids)
    firsts = dict(db.session.execute(
        select(Transaction.portfolio_id, func.min(Transaction.executed_at))
        .where(Transaction.portfolio_id.in_(ids)).group_by(Transaction.portfolio_id)).tuples().all())
    bases = {}
    for pid in ids:
        known = [moment for moment in (firsts.get(pid), points[pid][0][0] if points[pid] else None) if moment]
        first = min(known) if known else None
        periods = {}
        for period in PERIODS:
            basis = period_basis(period, period_start(period, day_start, first), day_start, points[pid], flows[pid])
            # Seed Newton's method for the day: the rate that holds at the start of today.
            log_guess = live_returns(basis, day_start, basis.previous_end, ())[2]
            periods[period] = PeriodBasis(**{**basis.__dict__, "log_guess": log_guess})
        bases[pid] = periods
    return bases


def basis_json(day_start: datetime, periods: Mapping[str, PeriodBasis]) -> dict[str, Any]:
    """The cached form of a portfolio's bases (exact decimals as strings)."""
    return {"day": iso(day_start), "periods": {
        period: {"start": iso(b.start), "start_value": str(b.start_value), "growth": str(b.growth),
                 "counted": b.counted, "previous_end": str(b.previous_end),
                 "flows": [[iso(f.at), str(f.amount)] for f in b.flows],
                 "log_guess": None if b.log_guess is None else str(b.log_guess)}
        for period, b in periods.items()}}


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# Parsed bases by the identity of their cached JSON (held here, so the id is not reused meanwhile): a worker keeps
# each portfolio's returns_basis object across rounds (models.valuation_cache), and parsing it was ~10% of a round.
_PARSED: dict[int, tuple[Mapping[str, Any], dict[str, PeriodBasis]]] = {}
_PARSED_MAX = 50_000


def bases_from_json(cached: Mapping[str, Any] | None, day_start: datetime) -> dict[str, PeriodBasis] | None:
    """The cached bases if they are today's, else None."""
    if not cached or cached.get("day") != iso(day_start):
        return None
    found = _PARSED.get(id(cached))
    if found is not None and found[0] is cached:
        return found[1]
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    parsed = _parse_bases(cached)
    _PARSED[id(cached)] = (cached, parsed)
    return parsed


def _parse_bases(cached: Mapping[str, Any]) -> dict[str, PeriodBasis]:
    """PeriodBasis of each period of a cached returns_basis."""
    return {
        period: PeriodBasis(period, _moment(b["start"]), Decimal(b["start_value"]), Decimal(b["growth"]),
                            bool(b["counted"]), Decimal(b["previous_end"]),
                            tuple(Flow(_moment(at), Decimal(amount)) for at, amount in b["flows"]),
                            None if b["log_guess"] is None else Decimal(b["log_guess"]))
        for period, b in cached["periods"].items()
    }


# A rate beyond 10^20 % only comes from a glitch (a price off by orders of magnitude): shown as unknown.
_LARGEST_RATE = Decimal("1e18")


def _pct(rate: Decimal | None) -> Decimal | None:
    return None if rate is None or abs(rate) > _LARGEST_RATE else round_percent(rate * 100)


def returns_block(bases: Mapping[str, PeriodBasis], now: datetime, value: Decimal,
                  today: Iterable[Flow]) -> dict[str, dict[str, Decimal | None]]:
    """portfolio_update's `returns`: {period: {twr_percent, mwr_percent}} ending now at `value`."""
    flows = tuple(today)
    block = {}
    for period, basis in bases.items():
        twr, mwr, _ = live_returns(basis, now, value, flows)
        block[period] = {"twr_percent": _pct(twr), "mwr_percent": _pct(mwr)}
    return block


def performance(portfolio_id: int, period: str, now: datetime, current_value: Decimal, base: str) -> dict[str, Any]:
    """TWR, MWR and the day-end value series (with each day's flows) of one period, ending now at current_value."""
    day_start = day_start_of(now)
    basis = compute_bases([portfolio_id], day_start)[portfolio_id][period]
    today = flows_of([portfolio_id], day_start)[portfolio_id]
    twr, mwr, log_rate = live_returns(basis, now, current_value, today)
    years = Decimal((now - basis.start).total_seconds()) / Decimal(365 * 86400)
    mwr_period = None if log_rate is None else (log_rate * years).exp() - 1
    days = daily_values([(moment, value) for moment, value in day_end_points([portfolio_id], day_start)[portfolio_id]
                         if moment > basis.start] + [(now, current_value)])
    period_flows = [*basis.flows, *today]
    by_day: dict[Any, Decimal] = {}
    for flow in period_flows:
        by_day[flow.at.date()] = by_day.get(flow.at.date(), Decimal(0)) + flow.amount
    return {
        "period": period, "start": iso(basis.start), "end": iso(now),
        "start_value": round_money(basis.start_value, base), "end_value": round_money(current_value, base),
        "net_flows": round_money(sum((flow.amount for flow in period_flows), Decimal(0)), base),
        "twr_percent": _pct(twr), "mwr_percent": _pct(mwr), "mwr_period_percent": _pct(mwr_period),
        "series": [{"date": day.isoformat(), "value": round_money(value, base),
                    "flows": round_money(by_day.get(day, Decimal(0)), base)} for day, value in days],
    }


def batch_returns(items: Mapping[int, tuple[Mapping[str, Any] | None, Iterable[Flow]]],
                  values: Mapping[int, Decimal], now: datetime, store: bool) -> dict[int, dict[str, Any]]:
    """The `returns` block of each portfolio valued now at `values[pid]`, from (cached bases, today's flows).

    Bases not cached for today are computed for all such portfolios at once (three queries) and,
    with `store`, cached in portfolios.returns_basis (one more statement).
    """
    day_start = day_start_of(now)
    bases = {pid: bases_from_json(cached, day_start) for pid, (cached, _) in items.items() if pid in values}
    missing = [pid for pid, found in bases.items() if found is None]
    computed = compute_bases(missing, day_start)
    if store and computed:
        db.session.execute(update(Portfolio), [
            {"id": pid, "returns_basis": basis_json(day_start, periods)} for pid, periods in computed.items()])
    return {
        pid: returns_block(found or computed[pid], now, values[pid], items[pid][1])
        for pid, found in bases.items()
    }
