"""portfolios.ledger_version: moved by every change of what a valuation reads about a portfolio.

Workers keep each portfolio's positions, cash, income and today's activity in memory (models.valuation_cache)
and reload it when this column moves, so every writer must move it. Two ways, both in the writer's transaction:
- any ORM flush that adds, changes or deletes a Position or Transaction, or changes a Portfolio other than its
  revaluation bookkeeping (seq, returns_basis, ledger_version), bumps the portfolio (a session listener);
- models.ledger_store.rebuild() bumps explicitly, for the ledger's bulk statements that bypass the ORM.
The bump is `ledger_version + 1` in SQL, so concurrent writers never land on the same number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import InstanceState, Session, scoped_session

from models.portfolio import Portfolio, Position, Transaction

# Columns a revaluation writes itself; changing only these must not drop the workers' caches.
_BOOKKEEPING = frozenset({"seq", "returns_basis", "ledger_version"})


def bump(session: Session | scoped_session[Any], portfolio_ids: Iterable[int]) -> None:
    """Move these portfolios' ledger_version (one UPDATE; nothing for an empty set)."""
    ids = sorted({int(pid) for pid in portfolio_ids if pid is not None})
    if ids:
        session.connection().execute(update(Portfolio.__table__).where(Portfolio.__table__.c.id.in_(ids))
                                     .values(ledger_version=Portfolio.__table__.c.ledger_version + 1))


def _portfolio_of(obj: Any) -> int | None:
    """The portfolio a Position or Transaction belongs to (after the flush its id is known)."""
    if obj.portfolio_id is not None:
        return int(obj.portfolio_id)
    owner = obj.__dict__.get("portfolio")
    return None if owner is None or owner.id is None else int(owner.id)


def _valuation_changed(portfolio: Portfolio) -> bool:
    """Whether a flushed Portfolio changed something other than revaluation bookkeeping."""
    state: InstanceState[Portfolio] = inspect(portfolio)
    return any(attr.key not in _BOOKKEEPING and attr.history.has_changes() for attr in state.attrs)


def _touched(session: Session) -> set[int]:
    """Portfolios whose valuation inputs this flush changes (read before the flush empties the collections)."""
    found: set[int | None] = set()
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, Position | Transaction):
            found.add(_portfolio_of(obj))
    for obj in session.dirty:
        if isinstance(obj, Position | Transaction) and session.is_modified(obj):
            found.add(_portfolio_of(obj))
        elif isinstance(obj, Portfolio) and obj.id is not None and _valuation_changed(obj):
            found.add(int(obj.id))
    return {pid for pid in found if pid is not None}


_PENDING_KEY = "pricewire.ledger_version.pending"


@event.listens_for(Session, "before_flush")
def _collect(session: Session, flush_context: Any, instances: Any) -> None:
    session.info.setdefault(_PENDING_KEY, set()).update(_touched(session))


@event.listens_for(Session, "after_flush_postexec")
def _bump_collected(session: Session, flush_context: Any) -> None:
    # After the flush: the rows it changed are written, so the UPDATE orders after them in the transaction.
    bump(session, session.info.pop(_PENDING_KEY, set()))
