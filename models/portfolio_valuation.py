"""Loaded portfolios valued with models.valuation, and their portfolio_update data (no publishing).

Loading (and its query budget) is models.portfolio_loading; this module adds no query of its own.
The settings valuation depends on come in as `Limits`, which callers build from their Settings
(infra.revaluation.valuation_limits); this module reads no configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from models.base import MONEY, utcnow
from models.currency import fx_symbols_needed, normalize_currency
from models.holders import with_inverses
from models.performance import batch_returns
from models.portfolio_loading import LoadedBatch, day_start_of, load_portfolios
from models.session_view import DEFAULT_STALE_AFTER_SECONDS, annotate_sessions, roll_sessions
from models.valuation import (
    DEFAULT_THRESHOLD_PERCENT,
    PortfolioInput,
    PortfolioValuation,
    value_portfolio,
)
from protocol.channels import portfolio_channel
from protocol.wire import iso


@dataclass(frozen=True)
class Limits:
    """PORTFOLIO_SIGNIFICANT_CHANGE_PERCENT and DATA_STALE_AFTER_SECONDS; the defaults are the settings' own."""

    threshold_percent: Decimal = DEFAULT_THRESHOLD_PERCENT
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS


DEFAULT_LIMITS = Limits()


def check_storable(valuation: PortfolioValuation) -> None:
    """Raise ValueError when a figure the tracker stores would overflow its column."""
    figures = [valuation.total_value, valuation.daily_change or 0, valuation.stale_value]
    figures += [p.rounded_value_in_base() or 0 for p in valuation.positions]
    for figure in figures:
        if not MONEY.fits(Decimal(figure)):
            raise ValueError(f"portfolio {valuation.portfolio_id}: {figure} does not fit a money column")


def value_batch(batch: LoadedBatch, now: datetime, limits: Limits = DEFAULT_LIMITS) -> dict[int, PortfolioValuation]:
    """Value every loaded portfolio; value_changed compares with its last snapshot."""
    return {
        pid: value_portfolio(roll_sessions(item.inputs, now, limits.stale_after_seconds), batch.fx_rates, now,
                             None if item.last_snapshot is None else item.last_snapshot.total_value,
                             limits.threshold_percent, previous_fx_rates=batch.previous_fx_rates)
        for pid, item in batch.portfolios.items()
    }


def value_portfolios(portfolio_ids: Iterable[int], now: datetime | None = None,
                     limits: Limits = DEFAULT_LIMITS) -> dict[int, PortfolioValuation]:
    """The current valuation of each existing portfolio, in at most three queries."""
    moment = now or utcnow()
    return value_batch(load_portfolios(portfolio_ids, day_start_of(moment)), moment, limits)


def _touched_by(position: dict[str, Any], base: str, symbols: set[str]) -> bool:
    """Whether a change of `symbols` (prices or FX) moves this position."""
    return position["symbol"] in symbols or bool(
        with_inverses(fx_symbols_needed([position["currency"]], base)) & symbols
    )


def update_data(valuation: PortfolioValuation, seq: int, now: datetime,
                updated_symbols: Iterable[str] | None = None, *, inputs: PortfolioInput | None = None,
                returns: dict[str, Any] | None = None, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """portfolio_update data: reference fields, valuation fields, returns, seq, as_of, channel.

    positions_updated lists the positions `updated_symbols` moved (all when None). With the valuation's
    `inputs`, each position gets its market's session fields and the data its oldest as_of.
    """
    data = valuation.as_dict()
    positions = data["positions"]
    if updated_symbols is not None:
        changed = set(updated_symbols)
        positions = [p for p in positions if _touched_by(p, normalize_currency(valuation.base_currency)[0], changed)]
    data.update(
        positions_updated=positions,
        seq=seq,
        as_of=None if valuation.as_of is None else iso(valuation.as_of),
        valued_at=iso(now),
        channel=portfolio_channel(valuation.portfolio_id),
        returns=returns,
    )
    if inputs is not None:
        annotate_sessions(data, inputs, now, limits.stale_after_seconds)
    return data


def portfolio_update_data(portfolio_id: int, now: datetime | None = None,
                          limits: Limits = DEFAULT_LIMITS) -> dict[str, Any] | None:
    """The portfolio_update data of one portfolio's current valuation; None if it does not exist.

    No ownership check: callers do that (owned_portfolio).
    """
    return portfolio_updates_data([portfolio_id], now, limits).get(portfolio_id)


def portfolio_updates_data(portfolio_ids: Iterable[int], now: datetime | None = None,
                           limits: Limits = DEFAULT_LIMITS) -> dict[int, dict[str, Any]]:
    """portfolio_update data of each existing portfolio, read and valued together (a fixed number of queries)."""
    moment = now or utcnow()
    batch = load_portfolios(portfolio_ids, day_start_of(moment))
    valuations = value_batch(batch, moment, limits)
    returns = returns_of(batch, {pid: v.total_value for pid, v in valuations.items()}, moment, store=False)
    return {pid: update_data(valuations[pid], item.seq, moment, inputs=item.inputs, returns=returns.get(pid),
                             limits=limits)
            for pid, item in batch.portfolios.items()}


def returns_of(batch: LoadedBatch, values: Mapping[int, Decimal], now: datetime, store: bool
               ) -> dict[int, dict[str, Any]]:
    """The `returns` block of each valued portfolio of the batch (models.performance.batch_returns)."""
    items = {pid: (item.returns_basis, item.today_flows) for pid, item in batch.portfolios.items()}
    return batch_returns(items, values, now, store)
