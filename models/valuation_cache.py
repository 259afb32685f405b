"""load_portfolios() from what this worker process already holds: the same LoadedBatch, fewer rows read.

Per portfolio, the process keeps what only a ledger change moves (positions' quantities and costs, cash, income,
name, base currency, today's trades and flows) under the portfolio's ledger_version (models.ledger_version), and
what only a revaluation moves (each position's last_published_value, the cached return bases) under its seq.
A round then reads:
- the portfolios' (user_id, seq, ledger_version, created_at): lock_heads(), which is also the round's row lock;
  an entry whose version moved, whose id now names another portfolio, or that was kept for another day, is
  reloaded with portfolio_valuation's own loaders (so a reload is the database's answer);
- positions' last_published_value only of portfolios whose seq moved since this process wrote or read it
  (another process revalued them), and returns_basis of those whose cached bases are not today's;
- every held symbol's asset and quote in one query (prices, and currency and market, which the feed may learn;
  a symbol no longer found reloads its portfolio), the FX quotes in one more, and the newest snapshot of each
  portfolio, as load_portfolios() does.
A process that misses a change only serves the older state until the column moves; a missed bump is the one
way to serve stale inputs, which is why every writer moves it in its own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from models.base import db
from models.market import Asset, Quote
from models.portfolio import Portfolio, Position
from models.portfolio_loading import (
    LoadedBatch,
    LoadedPortfolio,
    last_snapshots,
    load_fx_rates,
    load_rows,
    with_day_activity,
)
from models.returns import Flow
from models.valuation import PortfolioInput
from protocol.wire import iso


@dataclass
class _Entry:
    """One portfolio as this process holds it; quote fields of its inputs are refreshed every round."""

    version: tuple[int, datetime]  # ledger_version, and created_at: an id reused by a new portfolio is a miss
    day_start: datetime
    inputs: PortfolioInput
    today_flows: tuple[Flow, ...]
    seq: int  # the seq at which last_published and returns_basis were read or written by this process
    last_published: dict[int, Decimal | None]
    returns_basis: dict[str, Any] | None


_ENTRIES: dict[int, _Entry] = {}  # per process: a prefork child starts with its parent's, validated as any other


def clear() -> None:
    """Forget everything (tests; a process that wants to start cold)."""
    _ENTRIES.clear()


Head = tuple[int, int, tuple[int, datetime]]  # user_id, seq, (ledger_version, created_at)


def lock_heads(portfolio_ids: Iterable[int], lock: bool = True) -> dict[int, Head]:
    """(user_id, seq, version) of each existing portfolio, in id order; `lock`: FOR UPDATE (PostgreSQL)."""
    query = (select(Portfolio.id, Portfolio.user_id, Portfolio.seq, Portfolio.ledger_version, Portfolio.created_at)
             .where(Portfolio.id.in_(sorted(set(portfolio_ids)))).order_by(Portfolio.id))
    rows = db.session.execute(query.with_for_update() if lock else query).all()
    return {row.id: (row.user_id, row.seq or 0, (row.ledger_version or 0, row.created_at)) for row in rows}


def _reload(ids: list[int], heads: Mapping[int, Head], day_start: datetime) -> dict[int, PortfolioInput]:
    """Read these portfolios as load_portfolios() does and keep them; their inputs, quotes included."""
    inputs, extra = load_rows(ids)
    inputs, flows = with_day_activity(inputs, day_start)
    for pid, item in inputs.items():
        _ENTRIES[pid] = _Entry(heads[pid][2], day_start, item, flows.get(pid, ()), extra[pid][1],
                               {p.position_id: p.last_published_value for p in item.positions}, extra[pid][2])
    return inputs


def _refresh_revaluation_state(ids: list[int], heads: Mapping[int, Head], day_start: datetime) -> None:
    """Re-read last_published_value and returns_basis where another process (or a new day) moved them."""
    today = iso(day_start)
    moved = [pid for pid in ids if _ENTRIES[pid].seq != heads[pid][1]]
    if moved:
        for row in db.session.execute(select(Position.portfolio_id, Position.id, Position.last_published_value)
                                      .where(Position.portfolio_id.in_(moved), Position.quantity != 0)):
            _ENTRIES[row.portfolio_id].last_published[row.id] = row.last_published_value
    # Bases are computed and stored by the first revaluation of a day (models.performance): read them back once.
    stale = [pid for pid in ids if pid in moved or (_ENTRIES[pid].returns_basis or {}).get("day") != today]
    if stale:
        for pid, basis in db.session.execute(select(Portfolio.id, Portfolio.returns_basis)
                                             .where(Portfolio.id.in_(stale))).tuples():
            _ENTRIES[pid].returns_basis = basis
    for pid in moved:
        _ENTRIES[pid].seq = heads[pid][1]


def _quotes(symbols: set[str]) -> dict[str, Any]:
    """Each symbol's asset (currency, market) and quote, in one query."""
    rows = db.session.execute(
        select(Asset.symbol, Asset.currency, Asset.mic, Asset.timezone, Quote.price, Quote.previous_close,
               Quote.last_updated)
        .outerjoin(Quote, Quote.asset_id == Asset.id).where(Asset.symbol.in_(sorted(symbols)))
    ).all()
    return {row.symbol: row for row in rows}


def _priced(entry: _Entry, quotes: Mapping[str, Any]) -> PortfolioInput:
    """The entry's inputs with this round's quotes, asset fields and last published values."""
    positions = []
    for p in entry.inputs.positions:
        q = quotes[p.symbol]
        # replace(): a warm entry keeps every field a cold load (portfolio_loading.load_rows) sets.
        positions.append(replace(
            p, currency=q.currency, price=q.price, previous_close=q.previous_close, price_as_of=q.last_updated,
            last_published_value=entry.last_published.get(p.position_id), exchange=q.mic, exchange_timezone=q.timezone,
        ))
    return replace(entry.inputs, positions=tuple(positions))


def load_portfolios_cached(portfolio_ids: Iterable[int], day_start: datetime,
                           heads: Mapping[int, Head] | None = None) -> LoadedBatch:
    """What load_portfolios(portfolio_ids, day_start) returns, read mostly from this process's memory.

    `heads`: lock_heads() of these ids when the caller already read them (it locks them that way).
    """
    ids = sorted(set(portfolio_ids))
    if not ids:
        return LoadedBatch({}, {})
    heads = lock_heads(ids, lock=False) if heads is None else heads
    for gone in set(ids) - heads.keys():
        _ENTRIES.pop(gone, None)
    ids = [pid for pid in ids if pid in heads]
    cold = [pid for pid in ids if (entry := _ENTRIES.get(pid)) is None or entry.version != heads[pid][2]
            or entry.day_start != day_start]
    inputs = _reload(cold, heads, day_start) if cold else {}
    warm = [pid for pid in ids if pid not in inputs]
    if warm:
        _refresh_revaluation_state(warm, heads, day_start)
        quotes = _quotes({p.symbol for pid in warm for p in _ENTRIES[pid].inputs.positions})
        # A held symbol no longer found (nothing renames assets today): read that portfolio afresh, never guess.
        lost = [pid for pid in warm if any(p.symbol not in quotes for p in _ENTRIES[pid].inputs.positions)]
        if lost:
            inputs.update(_reload(lost, heads, day_start))
        inputs.update((pid, _priced(_ENTRIES[pid], quotes)) for pid in warm if pid not in inputs)
    snapshots = last_snapshots(ids)
    portfolios = {
        pid: LoadedPortfolio(inputs[pid], heads[pid][0], heads[pid][1], snapshots.get(pid),
                             _ENTRIES[pid].returns_basis, _ENTRIES[pid].today_flows)
        for pid in ids
    }
    return LoadedBatch(portfolios, *load_fx_rates(inputs.values()))


def note_written(seqs: Mapping[int, int], published: Mapping[int, Mapping[int, Decimal]]) -> None:
    """After a revaluation committed: its new seqs and the baselines (last_published_value) it moved."""
    for pid, seq in seqs.items():
        entry = _ENTRIES.get(pid)
        if entry is None or entry.seq != seq - 1:  # someone else wrote in between: re-read next round
            continue
        entry.seq = seq
        entry.last_published.update(published.get(pid, {}))
