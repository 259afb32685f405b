"""An asset's currency: as a provider states it, learnt once, and every quote reconciled with it.

A quote's stated currency wins for an asset whose currency nobody stated yet (``currency_source`` NULL: the
old USD default). Afterwards a quote in the same money in another unit (GBp for a GBP asset) is converted,
one in different money is rejected with a clear error. A quote that states none (Alpha Vantage, Finnhub) takes
the asset's known currency, else one learnt from a source's reference data, never a USD default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from decimal import Decimal

from sqlalchemy import select, update

from models.base import db
from models.currency import CurrencyMismatch, unit_factor
from models.market import Asset
from tasks.market_data import QuoteResult
from tasks.quote_store import ensure_assets

__all__ = ["CurrencyProblem", "learn_currencies", "reconcile"]

# Sources whose stated currency is a guess (the simulated market says USD for every equity): it names a new
# asset's currency but is never recorded as stated, so the first real provider's currency replaces it.
GUESSING_SOURCES = frozenset({"simulated"})

#: symbol -> (currency, the source that stated it, why the others did not)
Lookup = Callable[[str], tuple[str | None, str | None, list[str]]]


class CurrencyProblem(ValueError):
    """A quote's currency cannot be trusted for its asset; the message says how to fix it."""


def _scaled(result: QuoteResult, factor: Decimal, currency: str) -> QuoteResult:
    """The quote's money figures expressed in another unit of the same currency (pence -> pounds)."""

    def scale(value: Decimal | None) -> Decimal | None:
        return None if value is None else value * factor

    return replace(result, price=scale(result.price), previous_close=scale(result.previous_close),
                   change=scale(result.change), high=scale(result.high), low=scale(result.low), currency=currency)


def reconcile(result: QuoteResult, known: str | None, lookup: Lookup) -> tuple[QuoteResult, str | None]:
    """The quote in its asset's currency and who stated that currency when it is new (None: already known)."""
    symbol, stated = result.symbol, result.currency
    if known is not None:
        if stated is None or stated == known:
            return replace(result, currency=known), None
        try:
            factor = unit_factor(stated, known)
        except CurrencyMismatch:
            raise CurrencyProblem(
                f"{result.source}: {symbol} is quoted in {stated} but the asset is in {known}; if the asset is "
                f"wrong, correct it with: flask assets set-currency {symbol} {stated}"
            ) from None
        return _scaled(result, factor, known), None
    if stated is not None:
        return result, result.source
    currency, source, reasons = lookup(symbol)
    if currency is None:
        why = "; ".join(reasons) or "no source serving it has reference data"
        raise CurrencyProblem(
            f"{result.source}: {symbol}: the quote states no currency and none is known ({why}); "
            f"set it with: flask assets set-currency {symbol} CCY"
        )
    return replace(result, currency=currency), source


def learn_currencies(results: Mapping[str, QuoteResult], lookup: Lookup) -> dict[str, QuoteResult]:
    """Reconcile every served quote with its asset's currency, recording currencies learnt for the first time."""
    served = {symbol: result for symbol, result in results.items() if result.success}
    out = dict(results)
    if not served:
        return out
    rows = db.session.execute(
        select(Asset.symbol, Asset.currency, Asset.currency_source).where(Asset.symbol.in_(list(served)))
    ).all()
    known = {row.symbol: row.currency for row in rows if row.currency_source}
    present = {row.symbol for row in rows}
    learnt: dict[str, tuple[str, str]] = {}
    guessed: dict[str, str] = {}
    for symbol, result in served.items():
        try:
            out[symbol], stated_by = reconcile(result, known.get(symbol), lookup)
            stated_by = None if stated_by in GUESSING_SOURCES else stated_by
        except CurrencyProblem as exc:
            out[symbol] = QuoteResult.failure(symbol, result.source, str(exc))
            continue
        if stated_by is not None and out[symbol].currency:
            learnt[symbol] = (str(out[symbol].currency), stated_by)
        elif result.source in GUESSING_SOURCES and result.currency and symbol not in present:
            guessed[symbol] = result.currency
    if learnt or guessed:
        _record(learnt, guessed)
    return out


def _record(learnt: Mapping[str, tuple[str, str]], guessed: Mapping[str, str]) -> None:
    """Store currencies: new assets get them, default-guessed ones are corrected (learnt only); known ones stay."""
    try:
        ensure_assets({**guessed, **{symbol: currency for symbol, (currency, _) in learnt.items()}})
        for symbol, (currency, source) in learnt.items():
            db.session.execute(
                update(Asset).where(Asset.symbol == symbol, Asset.currency_source.is_(None))
                .values(currency=currency, currency_source=source)
            )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
