"""The transaction ledger's maths (pure Decimal, no I/O): holdings, cash, cost basis, realised gains, flows.

Method (docs/portfolio.md says the same):
- Every security trade is kept as FIFO lots. A sell (or a buy covering a short) closes the
  oldest lots first; realised gain = closed quantity x (trade unit price - lot unit cost),
  in the trade currency and in base (trade price at the trade's FX minus the lot's cost at
  its own trade FX, so realised gains in base include the currency's move).
- A position's cost basis is what its open lots cost; its average cost is that divided by
  its quantity. Fees are part of the trade's unit price: a buy's fees add to the cost, a
  sell's fees come off the proceeds; a transfer in arrives at (quantity x price + fees).
- A split multiplies every open lot's quantity by the ratio and divides its unit cost.
- Cash is kept per major currency (pence are pounds / 100): buys and fees take cash,
  sells, dividends, interest and deposits bring it; cash may go negative (money owed).
- External flows (deposits, withdrawals, transfers in and out) are what returns are
  measured around; dividends, interest and fees are income and costs, not flows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from models.currency import CONTEXT, normalize_currency

TYPES = ("buy", "sell", "dividend", "interest", "fee", "split", "deposit", "withdrawal", "transfer_in",
         "transfer_out")
TRADES = frozenset({"buy", "sell"})
NEEDS_SYMBOL = frozenset({"buy", "sell", "split", "dividend"})
# Types that carry an amount (price, quantity defaulting to 1) rather than shares.
CASH_TYPES = frozenset({"interest", "fee", "deposit", "withdrawal"})
FLOW_TYPES = ("deposit", "withdrawal", "transfer_in", "transfer_out")
ZERO = Decimal(0)


class LedgerError(ValueError):
    """A transaction the ledger cannot apply (e.g. transferring out more than is held)."""

    def __init__(self, field_name: str, message: str, transaction_id: int | None = None) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.transaction_id = transaction_id


@dataclass(frozen=True)
class Entry:
    """One ledger transaction as the maths sees it; fx_rate is base units per major unit of `currency`."""

    kind: str
    executed_at: datetime
    symbol: str | None
    quantity: Decimal
    price: Decimal
    currency: str
    fees: Decimal = ZERO
    fx_rate: Decimal = Decimal(1)
    id: int = 0

    @property
    def divisor(self) -> int:
        """Minor units per major unit of the currency (100 for GBp)."""
        return normalize_currency(self.currency)[1]

    def to_base(self, amount: Decimal) -> Decimal:
        """An amount in the trade currency converted to base at the trade's FX."""
        with localcontext(CONTEXT):
            return amount / self.divisor * self.fx_rate


@dataclass
class Lot:
    """Open quantity bought (or sold short) together; unit costs in the trade currency and in base."""

    quantity: Decimal
    unit_cost: Decimal
    unit_cost_base: Decimal


@dataclass
class Holding:
    """One symbol's open lots and what it has realised."""

    symbol: str
    currency: str
    lots: list[Lot] = field(default_factory=list)
    realised: Decimal = ZERO
    realised_base: Decimal = ZERO

    @property
    def quantity(self) -> Decimal:
        """Open quantity (negative when short)."""
        return sum((lot.quantity for lot in self.lots), ZERO)

    @property
    def cost(self) -> Decimal:
        """What the open lots cost, in the holding's currency."""
        with localcontext(CONTEXT):
            return sum((lot.quantity * lot.unit_cost for lot in self.lots), ZERO)

    @property
    def cost_base(self) -> Decimal:
        """What the open lots cost in base, each at its trade-date FX."""
        with localcontext(CONTEXT):
            return sum((lot.quantity * lot.unit_cost_base for lot in self.lots), ZERO)

    @property
    def average_cost(self) -> Decimal | None:
        """Cost per unit held; None when nothing is held."""
        quantity = self.quantity
        if quantity == 0:
            return None
        with localcontext(CONTEXT):
            return self.cost / quantity


@dataclass
class LedgerState:
    """Everything the ledger derives, in trade currency and in base."""

    holdings: dict[str, Holding] = field(default_factory=dict)
    cash: dict[str, Decimal] = field(default_factory=dict)
    realised_base: Decimal = ZERO
    dividends_base: Decimal = ZERO
    interest_base: Decimal = ZERO
    fees_base: Decimal = ZERO
    flows: list[tuple[datetime, Decimal]] = field(default_factory=list)

    def add_cash(self, entry: Entry, amount: Decimal) -> None:
        """Move `amount` (in the entry's currency, signed) into the cash of its major currency."""
        major = normalize_currency(entry.currency)[0]
        with localcontext(CONTEXT):
            self.cash[major] = self.cash.get(major, ZERO) + amount / entry.divisor


def _signed_quantity(entry: Entry) -> Decimal:
    """Shares in (+) or out (-) of the holding."""
    return entry.quantity if entry.kind in ("buy", "transfer_in") else -entry.quantity


def _close_and_open(holding: Holding, entry: Entry, realise: bool) -> None:
    """Apply a signed quantity to FIFO lots: close opposite lots first, open a new lot with the rest."""
    remaining = _signed_quantity(entry)
    gross = entry.quantity * entry.price
    if entry.kind in ("buy", "sell", "transfer_in") and entry.quantity:
        # Fees are part of the unit price: a buyer pays more per share, a seller receives less
        # (a transfer in's fees are part of the cost it arrives with).
        unit = (gross - entry.fees) / entry.quantity if entry.kind == "sell" else (gross + entry.fees) / entry.quantity
    else:
        unit = entry.price
    unit_base = entry.to_base(unit)
    while remaining and holding.lots and (holding.lots[0].quantity > 0) != (remaining > 0):
        lot = holding.lots[0]
        closed = lot.quantity if abs(lot.quantity) <= abs(remaining) else -remaining
        if realise:
            holding.realised += closed * (unit - lot.unit_cost)
            holding.realised_base += closed * (unit_base - lot.unit_cost_base)
        lot.quantity -= closed
        remaining += closed
        if lot.quantity == 0:
            holding.lots.pop(0)
    if remaining:
        if entry.kind == "transfer_out":
            raise LedgerError("quantity", f"more {holding.symbol} transferred out than held", entry.id)
        holding.lots.append(Lot(remaining, unit, unit_base))


def _apply_security(state: LedgerState, entry: Entry) -> None:
    """Buys, sells, splits and security transfers."""
    assert entry.symbol is not None
    holding = state.holdings.setdefault(entry.symbol, Holding(entry.symbol, entry.currency))
    if entry.kind == "split":
        if entry.quantity <= 0:
            raise LedgerError("quantity", "a split ratio must be positive", entry.id)
        for lot in holding.lots:
            lot.quantity *= entry.quantity
            lot.unit_cost /= entry.quantity
            lot.unit_cost_base /= entry.quantity
        return
    before = holding.realised_base
    _close_and_open(holding, entry, realise=entry.kind in TRADES)
    state.realised_base += holding.realised_base - before
    gross = entry.quantity * entry.price
    if entry.kind == "buy":
        state.add_cash(entry, -(gross + entry.fees))
    elif entry.kind == "sell":
        state.add_cash(entry, gross - entry.fees)
    state.fees_base += entry.to_base(entry.fees)


def _apply_cash(state: LedgerState, entry: Entry) -> None:
    """Dividends, interest, fees, deposits, withdrawals and cash transfers."""
    gross = entry.quantity * entry.price
    incoming = entry.kind in ("dividend", "interest", "deposit", "transfer_in")
    net = gross - entry.fees if incoming else -(gross + entry.fees)
    state.add_cash(entry, net)
    state.fees_base += entry.to_base(entry.fees)
    if entry.kind == "dividend":
        state.dividends_base += entry.to_base(gross - entry.fees)
    elif entry.kind == "interest":
        state.interest_base += entry.to_base(gross - entry.fees)
    elif entry.kind == "fee":
        state.fees_base += entry.to_base(gross)


def external_flow(entry: Entry) -> Decimal | None:
    """The base amount an entry brings into (+) or takes out of (-) the portfolio from outside; None if none.

    Deposits and cash transfers count net of their fees; securities transferred count at
    quantity x the stated price.
    """
    if entry.kind not in FLOW_TYPES:
        return None
    with localcontext(CONTEXT):
        gross = entry.quantity * entry.price
        if entry.symbol and entry.kind in ("transfer_in", "transfer_out"):
            return entry.to_base(gross if entry.kind == "transfer_in" else -gross)
        incoming = entry.kind in ("deposit", "transfer_in")
        return entry.to_base(gross - entry.fees if incoming else -(gross + entry.fees))


def replay(entries: Iterable[Entry]) -> LedgerState:
    """The ledger's state after every entry, applied in (executed_at, id) order."""
    state = LedgerState()
    with localcontext(CONTEXT):
        for entry in sorted(entries, key=lambda e: (e.executed_at, e.id)):
            is_security = entry.kind in ("buy", "sell", "split") or (
                entry.kind in ("transfer_in", "transfer_out") and entry.symbol)
            if is_security:
                _apply_security(state, entry)
            else:
                _apply_cash(state, entry)
            flow = external_flow(entry)
            if flow is not None:
                state.flows.append((entry.executed_at, flow))
    return state


@dataclass(frozen=True)
class DayActivity:
    """One symbol's trades since the day started: its opening quantity and net trade cash (buys +)."""

    opening_quantity: Decimal
    flow: Decimal
    flow_base: Decimal


def day_activity(today: Iterable[Entry], quantities: dict[str, Decimal]) -> dict[str, DayActivity]:
    """Opening quantity and today's net trade cash per symbol, from today's entries and the current quantities.

    A trade's cash is what it cost or brought (fees included), at its trade FX; splits
    today are not undone (providers' previous closes are split-adjusted already). Transfers
    are not trades: securities moved in or out today count from the previous close, as if
    held (their stated price is a cost basis, not today's price).
    """
    moved: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    with localcontext(CONTEXT):
        for entry in today:
            if entry.symbol is None or entry.kind not in TRADES:
                continue
            signed = _signed_quantity(entry)
            cash = signed * entry.price + entry.fees  # a buy costs q x p + fees; a sell brings q x p - fees
            quantity, flow, flow_base = moved.get(entry.symbol, (ZERO, ZERO, ZERO))
            moved[entry.symbol] = (quantity + signed, flow + cash, flow_base + entry.to_base(cash))
        return {
            symbol: DayActivity(quantities.get(symbol, ZERO) - quantity, flow, flow_base)
            for symbol, (quantity, flow, flow_base) in moved.items()
        }
