"""Revalue portfolios, store snapshots, commit, then publish: shared by the price feed and ledger changes.

revalue_portfolios() runs in the caller's app context with a bounded number of queries:
lock the portfolios (the lock reads their seq and ledger_version), load them from what this process
already holds (models.valuation_cache: quotes and FX read once a round, the ledger's inputs only when
they changed), store snapshots + seq + last published values in one transaction, and publish only
after that transaction commits (one pipeline a round, only to channels some web process listens to).
A failed commit publishes nothing; a bus failure after commit is logged (clients resync from the
stored state by seq) and does not undo the commit. One portfolio that cannot be valued or stored is
logged, counted (/metrics) and skipped: the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, StatementError

from infra.bus import publish_all, watched_channels
from infra.feed_status import REVALUATION_FAILURES, get_feed_status
from infra.settings import get_settings
from models.base import db, utcnow
from models.history_resolution import store_points
from models.holders import portfolio_ids_holding
from models.portfolio import Portfolio, Position
from models.portfolio_loading import LoadedBatch, LoadedPortfolio, day_start_of
from models.portfolio_valuation import Limits, check_storable, returns_of, update_data, value_batch
from models.valuation import PortfolioValuation, PositionValuation
from models.valuation_cache import load_portfolios_cached, lock_heads, note_written
from protocol.bus import portfolio_update_message, position_update_message
from protocol.channels import portfolio_channel, user_channel

logger = logging.getLogger("pricewire.realtime")


def valuation_limits(app: Flask | None = None) -> Limits:
    """The valuation settings (significant change, staleness margin) of `app`, or of the current app."""
    settings = get_settings(app)
    return Limits(Decimal(settings.portfolio_significant_change_percent), settings.data_stale_after_seconds)


def _stored_daily_change(valuation: PortfolioValuation) -> Decimal:
    """The snapshot column is NOT NULL: an unknown daily change is stored as 0."""
    return Decimal(0) if valuation.daily_change is None else valuation.daily_change


def _changed(item: LoadedPortfolio, valuation: PortfolioValuation) -> bool:
    """Whether anything a client shows moved since the last stored snapshot."""
    last = item.last_snapshot
    if last is None or any(p.significant_change for p in valuation.positions):
        return True
    return (valuation.total_value, _stored_daily_change(valuation), valuation.stale_value) != (
        last.total_value, last.daily_change, last.stale_value
    )


def _published_values(item: LoadedPortfolio, valuation: PortfolioValuation) -> list[dict[str, Any]]:
    """New last_published_value rows: significant positions, and live ones never published.

    Only these move the baseline, so small moves accumulate until they are significant.
    """
    last = {p.position_id: p.last_published_value for p in item.inputs.positions}
    rows = []
    for pos in valuation.positions:
        value = pos.rounded_value_in_base()
        if not pos.stale and value is not None and (pos.significant_change or last.get(pos.position_id) is None):
            rows.append({"id": pos.position_id, "last_published_value": value})
    return rows


def position_data(pos: PositionValuation, item: LoadedPortfolio, seq: int | None) -> dict[str, Any]:
    """position_update data: the position's fields plus where it belongs."""
    return {
        **pos.as_dict(),
        "portfolio_id": item.inputs.portfolio_id,
        "portfolio_name": item.inputs.name,
        "base_currency": item.inputs.base_currency,
        "seq": seq,
    }


def _snapshot_row(pid: int, valuation: PortfolioValuation, item: LoadedPortfolio, moment: datetime) -> dict[str, Any]:
    """A PortfolioValue row; its time never goes backwards (a late batch is stamped at the last one)."""
    last = item.last_snapshot
    stamp = moment if last is None or last.timestamp <= moment else last.timestamp
    return {"portfolio_id": pid, "timestamp": stamp, "total_value": valuation.total_value,
            "daily_change": _stored_daily_change(valuation), "stale_value": valuation.stale_value}


def _write(pids: list[int], batch: LoadedBatch, valuations: dict[int, PortfolioValuation],
           moment: datetime, published: dict[int, list[dict[str, Any]]]) -> dict[int, int]:
    """Store snapshots, bump seqs and move baselines of `pids` (their `published` rows); their new seqs."""
    # At most one stored point per portfolio per history period: the newest (models.history_resolution).
    store_points([_snapshot_row(pid, valuations[pid], batch.portfolios[pid], moment) for pid in pids],
                 {pid: batch.portfolios[pid].last_snapshot for pid in pids},
                 get_settings().portfolio_history_resolution_seconds)
    result = db.session.execute(
        update(Portfolio).where(Portfolio.id.in_(pids)).values(seq=Portfolio.seq + 1)
        .returning(Portfolio.id, Portfolio.seq).execution_options(synchronize_session=False)
    )
    seqs = {row.id: row.seq for row in result}
    published_rows = [row for pid in pids for row in published[pid]]
    if published_rows:
        db.session.execute(update(Position), published_rows)
    return seqs


def _failed(pid: int, exc: BaseException, failures: list[int]) -> None:
    """Log one portfolio's failure and count it in /metrics; the others go on."""
    failures.append(pid)
    logger.error("portfolio revaluation failed; skipped", extra={"portfolio_id": pid, "error": repr(exc)})
    try:
        get_feed_status().incr(REVALUATION_FAILURES)
    except Exception:  # the status store being down must not fail the batch either
        logger.warning("revaluation failure not counted", exc_info=True)


def _value_each(batch: LoadedBatch, moment: datetime, limits: Limits,
                failures: list[int]) -> dict[int, PortfolioValuation]:
    """Value every portfolio on its own; one that fails (bad data, too large to store) is skipped."""
    valuations = {}
    for pid, item in batch.portfolios.items():
        try:
            single = LoadedBatch({pid: item}, batch.fx_rates, batch.previous_fx_rates)
            valuation = value_batch(single, moment, limits)[pid]
            check_storable(valuation)
        except (ArithmeticError, ValueError, TypeError) as exc:
            _failed(pid, exc, failures)
            continue
        valuations[pid] = valuation
    return valuations


def _write_isolated(dirty: list[int], batch: LoadedBatch, valuations: dict[int, PortfolioValuation],
                    moment: datetime, failures: list[int], *, published: dict[int, list[dict[str, Any]]]
                    ) -> dict[int, int]:
    """All in one savepoint; if the database refuses, one savepoint per portfolio to skip the bad one."""
    try:
        with db.session.begin_nested():
            return _write(dirty, batch, valuations, moment, published)
    except (DBAPIError, StatementError, ValueError):
        logger.warning("revaluation batch refused; writing portfolios one by one", exc_info=True)
    seqs: dict[int, int] = {}
    for pid in dirty:
        try:
            with db.session.begin_nested():
                seqs.update(_write([pid], batch, valuations, moment, published))
        except (DBAPIError, StatementError, ValueError) as exc:
            _failed(pid, exc, failures)
    return seqs


def _returns(batch: LoadedBatch, valuations: dict[int, PortfolioValuation], dirty: list[int],
             moment: datetime) -> dict[int, dict[str, Any]]:
    """The returns blocks of the dirty portfolios; on bad data they are left out, never failing the batch."""
    try:
        with db.session.begin_nested():
            return returns_of(batch, {pid: valuations[pid].total_value for pid in dirty}, moment, store=True)
    except (ArithmeticError, ValueError, DBAPIError, StatementError):
        logger.warning("returns not computed", exc_info=True)
        return {}


def _publish_round(pids: list[int], batch: LoadedBatch, valuations: dict[int, PortfolioValuation],
                   seqs: dict[int, int], *, moment: datetime, changed_symbols: set[str] | None,
                   returns: dict[int, dict[str, Any]], limits: Limits) -> tuple[list[dict[str, Any]], int]:
    """Build and publish (one pipeline) the updates some web process listens to; (portfolio_update data, positions).

    A message nobody listens to is neither built nor sent: the state is committed, and whoever subscribes
    later reads it as the snapshot.
    """
    updates: list[dict[str, Any]] = []
    messages: list[tuple[str, str]] = []
    positions_sent = 0
    watched = watched_channels([portfolio_channel(pid) for pid in pids]
                               + [user_channel(batch.portfolios[pid].user_id) for pid in pids])
    for pid in pids:
        item, valuation = batch.portfolios[pid], valuations[pid]
        if watched is None or portfolio_channel(pid) in watched:
            data = update_data(valuation, seqs[pid], moment, changed_symbols, inputs=item.inputs,
                               returns=returns.get(pid), limits=limits)
            messages.append((portfolio_channel(pid), portfolio_update_message(data)))
            updates.append(data)
        if watched is not None and user_channel(item.user_id) not in watched:
            continue
        for pos in valuation.positions:
            if pos.significant_change:
                messages.append((user_channel(item.user_id),
                                 position_update_message(position_data(pos, item, seqs[pid]))))
                positions_sent += 1
    publish_all(messages)
    return updates, positions_sent


def revalue_portfolios(portfolio_ids: Iterable[int], now: datetime | None = None,
                       changed_symbols: set[str] | None = None) -> list[dict[str, Any]]:
    """Revalue these portfolios (lock them first on PostgreSQL), store, commit, then publish.

    Returns the portfolio_update data of every portfolio whose update was committed and published (a message
    nobody listens to is neither built nor sent); positions_updated lists what `changed_symbols` moved
    (every position when None).
    Database errors other than one portfolio's roll back and propagate; nothing is published then.
    """
    moment = now or utcnow()
    started = time.monotonic()
    failures: list[int] = []
    limits = valuation_limits()
    try:
        ids = sorted(set(portfolio_ids))
        # Serialise with other revaluations of these portfolios (PostgreSQL; a no-op when already held),
        # so each reads the newest snapshot before stamping its own.
        # The lock reads each portfolio's seq and ledger_version, which say what this process may reuse.
        heads = lock_heads(ids)
        # The same batch load_portfolios() reads, from what this process holds (models.valuation_cache).
        batch = load_portfolios_cached(ids, day_start_of(moment), heads)
        valuations = _value_each(batch, moment, limits, failures)
        dirty = [pid for pid, valuation in valuations.items() if _changed(batch.portfolios[pid], valuation)]
        returns = _returns(batch, valuations, dirty, moment)
        published = {pid: _published_values(batch.portfolios[pid], valuations[pid]) for pid in dirty}
        seqs = _write_isolated(dirty, batch, valuations, moment, failures, published=published) if dirty else {}
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    note_written(seqs, {pid: {row["id"]: row["last_published_value"] for row in published[pid]} for pid in seqs})
    # Only now is the state durable: a client that resyncs after this message finds it stored.
    updates, positions_sent = _publish_round([pid for pid in dirty if pid in seqs], batch, valuations, seqs,
                                             moment=moment, changed_symbols=changed_symbols, returns=returns,
                                             limits=limits)
    logger.info("portfolios revalued", extra={
        "symbols": len(changed_symbols or ()), "portfolios": len(ids), "published": len(updates),
        "failed": len(failures), "position_updates": positions_sent,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    })
    return updates


def revalue_for_symbols(symbols: Iterable[str], now: datetime | None = None) -> list[dict[str, Any]]:
    """Revalue the portfolios holding `symbols` (prices or FX): revalue_portfolios() of those holders."""
    changed_symbols = {s.strip().upper() for s in symbols if s and s.strip()}
    if not changed_symbols:
        return []
    try:
        ids = portfolio_ids_holding(changed_symbols, lock=True)
    except Exception:
        db.session.rollback()
        raise
    return revalue_portfolios(ids, now, changed_symbols)
