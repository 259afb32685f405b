"""The stored ledger: recording transactions (FX at trade date resolved) and rebuilding what derives from them.

rebuild() replays a portfolio's whole ledger (models.ledger) and writes the result into
its positions (quantity, cost basis in the asset's currency and in base, realised gain)
and the portfolio (cash per currency, realised gains, dividends, interest, fees). The
valuation reads those rows; nothing else writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import delete, select

from models.base import db
from models.currency import CONTEXT, fx_symbol, normalize_currency
from models.ledger import Entry, LedgerError, LedgerState, replay
from models.ledger_version import bump
from models.market import Asset, PriceHistory, Quote, get_or_create_asset
from models.portfolio import Portfolio, Position, Transaction
from models.transaction_input import InvalidTransaction, TransactionFields

OPENING_NOTE = "opening position"


@dataclass
class FxLookup:
    """FX at a trade date: the last stored FX price at or before the end of that day, else the current quote.

    Answers are cached per (pair, day), so importing many rows costs one query per pair and day.
    """

    cache: dict[tuple[str, str, date], tuple[Decimal, str] | None] = field(default_factory=dict)

    def _stored(self, symbol: str, day: date) -> tuple[Decimal, str] | None:
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        price = db.session.scalar(
            select(PriceHistory.price).join(Asset, Asset.id == PriceHistory.asset_id)
            .where(Asset.symbol == symbol, PriceHistory.timestamp < end)
            .order_by(PriceHistory.timestamp.desc()).limit(1)
        )
        if price is not None and price > 0:
            return price, "history"
        quote = db.session.scalar(select(Quote.price).join(Asset, Asset.id == Quote.asset_id)
                                  .where(Asset.symbol == symbol))
        return (quote, "quote") if quote is not None and quote > 0 else None

    def rate(self, currency: str, base: str, when: datetime) -> tuple[Decimal, str] | None:
        """(base units per major unit of `currency`, source) on `when`'s day, or None when unknown."""
        major, base_major = normalize_currency(currency)[0], normalize_currency(base)[0]
        if major == base_major:
            return Decimal(1), "same"
        key = (major, base_major, when.date())
        if key not in self.cache:
            found = self._stored(fx_symbol(major, base_major), when.date())
            if found is None:
                inverse = self._stored(fx_symbol(base_major, major), when.date())
                found = None if inverse is None else (CONTEXT.divide(Decimal(1), inverse[0]), inverse[1])
            self.cache[key] = found
        return self.cache[key]


def transaction_values(portfolio: Portfolio, fields: TransactionFields, fx: FxLookup,
                       assets: dict[str, Asset] | None = None) -> dict[str, object]:
    """Column values of a new or changed transaction: asset found or created, currency checked, FX resolved."""
    asset = None
    currency = fields.currency
    if fields.symbol is not None:
        known = (assets or {}).get(fields.symbol)
        asset = known or db.session.scalar(select(Asset).where(Asset.symbol == fields.symbol))
        if asset is None:
            if currency is None:  # guessing would value the holding in the wrong money
                raise InvalidTransaction({"currency": f"required: {fields.symbol} is not known yet (e.g. USD, GBp)"})
            # Not recorded as stated: the first real provider's stated currency still corrects a typo.
            asset = get_or_create_asset(fields.symbol, currency=currency)
        if assets is not None:
            assets[fields.symbol] = asset
        if currency is None:
            currency = asset.currency
        elif currency != asset.currency:
            raise InvalidTransaction({"currency": f"{fields.symbol} is quoted in {asset.currency}"})
    currency = currency or portfolio.base_currency
    rate, source = fields.fx_rate, "given"
    if rate is None:
        found = fx.rate(currency, portfolio.base_currency, fields.executed_at)
        if found is None:
            pair = fx_symbol(normalize_currency(currency)[0], normalize_currency(portfolio.base_currency)[0])
            day = fields.executed_at.date()
            raise InvalidTransaction({"fx_rate": f"no {pair} rate stored for {day}; give fx_rate"})
        rate, source = found
    return {
        "portfolio_id": portfolio.id, "kind": fields.kind, "asset_id": None if asset is None else asset.id,
        "quantity": fields.quantity, "price": fields.price, "currency": currency, "fees": fields.fees,
        "fx_rate": rate, "fx_source": source, "executed_at": fields.executed_at, "note": fields.note,
    }


def entries(portfolio_id: int) -> tuple[list[Entry], set[str]]:
    """The portfolio's ledger entries, and the symbols with an entry whose FX rate is unknown (plain rows: fast)."""
    t = Transaction
    rows = db.session.execute(
        select(t.kind, t.executed_at, Asset.symbol, t.quantity, t.price, t.currency, t.fees, t.fx_rate, t.id)
        .outerjoin(Asset, Asset.id == t.asset_id).where(t.portfolio_id == portfolio_id)
    ).all()
    unknown = {row.symbol for row in rows if row.fx_rate is None and row.symbol}
    return [Entry(row.kind, row.executed_at, row.symbol, row.quantity, row.price, row.currency, row.fees,
                  Decimal(1) if row.fx_rate is None else row.fx_rate, row.id) for row in rows], unknown


def entry_of(tx: Transaction, symbol: str | None) -> Entry:
    """The ledger maths' view of a stored transaction (an unknown rate counts as 1: its cost base is dropped)."""
    return Entry(tx.kind, tx.executed_at, symbol, tx.quantity, tx.price, tx.currency, tx.fees,
                 Decimal(1) if tx.fx_rate is None else tx.fx_rate, tx.id)


def open_legacy_positions(portfolio: Portfolio) -> None:
    """Positions stored without a ledger become opening transfer_in transactions (the migration's rule)."""
    if db.session.scalar(select(Transaction.id).where(Transaction.portfolio_id == portfolio.id).limit(1)):
        return
    fx = FxLookup()
    for position in db.session.scalars(select(Position).where(Position.portfolio_id == portfolio.id)):
        if position.quantity == 0:
            continue
        price = CONTEXT.divide(position.cost_basis, position.quantity).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
        found = fx.rate(position.asset.currency, portfolio.base_currency, portfolio.created_at)
        db.session.add(Transaction(
            portfolio_id=portfolio.id, kind="transfer_in", asset_id=position.asset_id, quantity=position.quantity,
            price=price, currency=position.asset.currency,
            fees=(position.cost_basis - position.quantity * price).quantize(Decimal("1e-8")),
            fx_rate=None if found is None else found[0], fx_source="unknown" if found is None else found[1],
            executed_at=portfolio.created_at, note=OPENING_NOTE,
        ))
    db.session.flush()


def rebuild(portfolio: Portfolio) -> LedgerState:
    """Replay the ledger and store what derives from it; LedgerError when it cannot be applied."""
    ledger, unknown_fx = entries(portfolio.id)
    try:
        state = replay(ledger)
    except LedgerError as exc:
        raise InvalidTransaction({exc.field: exc.message}) from exc
    assets = dict(db.session.execute(
        select(Asset.symbol, Asset.id).where(Asset.symbol.in_(list(state.holdings)))).tuples().all())
    stored = db.session.scalars(select(Position).where(Position.portfolio_id == portfolio.id))
    existing = {position.asset_id: position for position in stored}
    for symbol, holding in state.holdings.items():
        position = existing.pop(assets[symbol], None)
        if position is None:
            position = Position(portfolio_id=portfolio.id, asset_id=assets[symbol])
            db.session.add(position)
        position.quantity = holding.quantity
        position.cost_basis = holding.cost
        position.cost_basis_base = None if symbol in unknown_fx else holding.cost_base
        position.realised_gain = holding.realised_base
    if existing:
        db.session.execute(delete(Position).where(Position.id.in_([p.id for p in existing.values()])))
    portfolio.cash = {currency: format(amount.normalize(), "f") for currency, amount in sorted(state.cash.items())
                      if amount != 0}
    portfolio.realised_gain = state.realised_base
    portfolio.dividends = state.dividends_base
    portfolio.interest = state.interest_base
    portfolio.fees = state.fees_base
    portfolio.returns_basis = None  # the returns of past days change with the ledger
    db.session.flush()
    # The ledger's bulk statements bypass the ORM listener: workers' cached inputs must be dropped anyway.
    bump(db.session, [portfolio.id])
    return state
