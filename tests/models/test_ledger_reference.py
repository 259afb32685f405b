"""models.ledger against an independent reference (exact Fractions, written from the docs, not the code).

The reference keeps each lot as (signed quantity, total cost, total cost in base) and
consumes lots by proportion; the product keeps unit costs. Hypothesis generates ledgers of
buys, sells (shorts included), dividends, fees, deposits, withdrawals and splits in USD,
EUR and GBp; both must agree exactly on every derived figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from models.ledger import Entry, replay

D = Decimal
T0 = datetime(2024, 1, 2, tzinfo=UTC)
DIVISOR = {"USD": 1, "EUR": 1, "GBp": 100}
MAJOR = {"USD": "USD", "EUR": "EUR", "GBp": "GBP"}
SYMBOL_CURRENCY = {"AAA": "USD", "BBB": "EUR", "CCC": "GBp"}


@dataclass
class Reference:
    """The ledger as docs/portfolio.md defines it, in Fractions."""

    lots: dict[str, list[list[Fraction]]] = field(default_factory=dict)  # [qty, cost, cost_base]
    realised_base: Fraction = Fraction(0)
    cash: dict[str, Fraction] = field(default_factory=dict)
    dividends: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)

    def base(self, amount: Fraction, currency: str, fx: Fraction) -> Fraction:
        return amount / DIVISOR[currency] * fx

    def move_cash(self, amount: Fraction, currency: str) -> None:
        self.cash[MAJOR[currency]] = self.cash.get(MAJOR[currency], Fraction(0)) + amount / DIVISOR[currency]

    def trade(self, symbol: str, signed: Fraction, price: Fraction, fee: Fraction, fx: Fraction) -> None:
        currency = SYMBOL_CURRENCY[symbol]
        # What changes hands for the whole trade: cash out for a buy (price + fee), in for a sell (price - fee).
        total = signed * price + fee  # a buy: q p + fee; a sell: -(q p - fee)
        lots = self.lots.setdefault(symbol, [])
        remaining = signed
        while remaining and lots and (lots[0][0] > 0) != (remaining > 0):
            qty, cost, cost_base = lots[0]
            take = -remaining if abs(remaining) < abs(qty) else qty  # the part of this lot closed (lot's sign)
            share = take / qty
            # proceeds (or cost) of the closed part at this trade's price, fees spread by quantity
            part_total = total * (-take) / signed
            self.realised_base += -self.base(part_total, currency, fx) - share * cost_base
            lots[0] = [qty - take, cost * (1 - share), cost_base * (1 - share)]
            remaining += take
            if lots[0][0] == 0:
                lots.pop(0)
        if remaining:
            part_total = total * remaining / signed
            lots.append([remaining, part_total, self.base(part_total, currency, fx)])
        self.move_cash(-total, currency)
        self.fees += self.base(fee, currency, fx)

    def split(self, symbol: str, ratio: Fraction) -> None:
        for lot in self.lots.get(symbol, []):
            lot[0] *= ratio


ops = st.one_of(
    st.tuples(st.just("buy"), st.sampled_from(sorted(SYMBOL_CURRENCY)), st.integers(1, 50), st.integers(1, 5000),
              st.integers(0, 300)),
    st.tuples(st.just("sell"), st.sampled_from(sorted(SYMBOL_CURRENCY)), st.integers(1, 60), st.integers(1, 5000),
              st.integers(0, 300)),
    st.tuples(st.just("dividend"), st.sampled_from(sorted(SYMBOL_CURRENCY)), st.integers(1, 50), st.integers(1, 99),
              st.integers(0, 20)),
    st.tuples(st.sampled_from(["deposit", "withdrawal", "fee", "interest"]), st.sampled_from(["USD", "EUR", "GBp"]),
              st.just(1), st.integers(1, 100000), st.integers(0, 50)),
    st.tuples(st.just("split"), st.sampled_from(sorted(SYMBOL_CURRENCY)), st.sampled_from([2, 3, 4]), st.just(0),
              st.just(0)),
)
rates = st.sampled_from(["1", "1.0825", "0.9", "1.27315", "1.155"])


def _run(ledger: list[tuple[str, str, int, int, int]], fx: list[str]) -> tuple[Reference, list[Entry]]:
    ref, entries = Reference(), []
    for n, ((kind, what, qty, cents, fee_cents), rate) in enumerate(zip(ledger, fx, strict=True)):
        price, fee, fx_rate = Fraction(cents, 100), Fraction(fee_cents, 100), Fraction(Decimal(rate))
        symbol = what if what in SYMBOL_CURRENCY else None
        currency = SYMBOL_CURRENCY[what] if symbol else what
        if kind == "split":
            entries.append(Entry(kind, T0 + timedelta(hours=n), symbol, D(qty), D(0), currency, id=n))
            ref.split(what, Fraction(qty))
            continue
        entries.append(Entry(kind, T0 + timedelta(hours=n), symbol, D(qty), D(cents) / 100, currency,
                             D(fee_cents) / 100, D(rate), n))
        if kind in ("buy", "sell"):
            ref.trade(what, Fraction(qty if kind == "buy" else -qty), price, fee, fx_rate)
            continue
        gross = qty * price
        incoming = kind in ("dividend", "interest", "deposit")
        ref.move_cash(gross - fee if incoming else -(gross + fee), currency)
        ref.fees += ref.base(fee + (gross if kind == "fee" else 0), currency, fx_rate)
        if kind == "dividend":
            ref.dividends += ref.base(gross - fee, currency, fx_rate)
    return ref, entries


def _close(a: Decimal, b: Fraction) -> bool:
    """Equal to 1e-30: the product divides at 50 significant digits, the reference not at all."""
    return abs(Fraction(a) - b) < Fraction(1, 10**30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(ops, rates), max_size=40))
def test_product_matches_reference(steps: list[tuple[tuple[str, str, int, int, int], str]]) -> None:
    ref, entries = _run([s for s, _ in steps], [r for _, r in steps])
    state = replay(entries)
    for symbol, lots in ref.lots.items():
        holding = state.holdings.get(symbol)
        quantity = sum((lot[0] for lot in lots), Fraction(0))
        assert holding is not None or quantity == 0
        if holding is None:
            continue
        assert Fraction(holding.quantity) == quantity
        assert _close(holding.cost, sum((lot[1] for lot in lots), Fraction(0)))
        assert _close(holding.cost_base, sum((lot[2] for lot in lots), Fraction(0)))
    assert _close(state.realised_base, ref.realised_base)
    assert _close(state.dividends_base, ref.dividends)
    assert _close(state.fees_base, ref.fees)
    for currency in set(ref.cash) | set(state.cash):
        assert _close(state.cash.get(currency, D(0)), ref.cash.get(currency, Fraction(0)))


def test_worked_fifo_example_with_fees_and_fx() -> None:
    # Buy 10 SAP at EUR 100 + EUR 10 fees at EURUSD 1.10: cost EUR 1,010 = USD 1,111.00
    # Buy 10 SAP at EUR 120 + EUR 0 at 1.20: cost EUR 1,200 = USD 1,440.00
    # Sell 15 at EUR 130 - EUR 15 fees at 1.15: EUR 129 a share net = USD 148.35 a share
    #   FIFO: 10 from lot 1 (USD 111.10 a share) + 5 from lot 2 (USD 144.00 a share)
    #   realised USD (148.35 - 111.10) x 10 + (148.35 - 144.00) x 5 = 372.50 + 21.75 = 394.25
    # Left: 5 at EUR 120 = EUR 600 = USD 720.00; average cost EUR 120
    # Cash EUR -1010 - 1200 + 1935 = -275
    state = replay([
        Entry("buy", T0, "SAP", D(10), D(100), "EUR", D(10), D("1.10"), 1),
        Entry("buy", T0 + timedelta(days=1), "SAP", D(10), D(120), "EUR", D(0), D("1.20"), 2),
        Entry("sell", T0 + timedelta(days=2), "SAP", D(15), D(130), "EUR", D(15), D("1.15"), 3),
    ])
    sap = state.holdings["SAP"]
    assert (sap.quantity, sap.cost, sap.cost_base, sap.average_cost) == (D(5), D(600), D(720), D(120))
    assert state.realised_base == D("394.25")
    assert state.cash == {"EUR": D(-275)}
    assert state.fees_base == D("11.00") + D("17.25")  # 10 x 1.10 + 15 x 1.15


def test_worked_split_pence_and_transfers() -> None:
    # 1000 VOD.L at 72.34p transferred in (GBP 723.40 at GBPUSD 1.25 = USD 904.25), split 1-for-10 -> 100 at 723.4p
    state = replay([
        Entry("transfer_in", T0, "VOD.L", D(1000), D("72.34"), "GBp", D(0), D("1.25"), 1),
        Entry("split", T0 + timedelta(days=1), "VOD.L", D("0.1"), D(0), "GBp", id=2),
        Entry("deposit", T0, None, D(1), D(500), "GBp", D(0), D("1.25"), 3),
    ])
    vod = state.holdings["VOD.L"]
    assert (vod.quantity, vod.cost, vod.cost_base, vod.average_cost) == (D(100), D(72340), D("904.25"), D("723.4"))
    assert state.cash == {"GBP": D(5)}  # 500 pence
    assert state.flows == [(T0, D("904.25")), (T0, D("6.25"))]  # both external flows, in base


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ops, rates), max_size=30), st.integers(1, 9000), rates)
def test_unrealised_return_in_base_matches_reference(steps: list[tuple[tuple[str, str, int, int, int], str]],
                                                     price_cents: int, fx_now: str) -> None:
    """Valued at one price and today's FX, unrealised P&L in base = value x FX now - cost at trade FX."""
    from models.valuation import FxRate, PortfolioInput, PositionInput, value_portfolio

    ref, entries = _run([s for s, _ in steps], [r for _, r in steps])
    state = replay(entries)
    rate = {"EURUSD=X": FxRate(D(fx_now)), "GBPUSD=X": FxRate(D(fx_now))}
    held = [(symbol, h) for symbol, h in sorted(state.holdings.items()) if h.quantity != 0]
    inputs = tuple(
        PositionInput(n, symbol, h.quantity, h.cost, SYMBOL_CURRENCY[symbol], D(price_cents) / 100, None, T0,
                      cost_basis_base=h.cost_base)
        for n, (symbol, h) in enumerate(held))
    result = value_portfolio(PortfolioInput(1, "p", "USD", inputs), rate, T0)
    expected = Fraction(0)
    for symbol, lots in ref.lots.items():
        quantity = sum((lot[0] for lot in lots), Fraction(0))
        if quantity:
            fx = Fraction(D(fx_now)) if SYMBOL_CURRENCY[symbol] != "USD" else Fraction(1)
            value = quantity * Fraction(price_cents, 100) / DIVISOR[SYMBOL_CURRENCY[symbol]] * fx
            expected += value - sum((lot[2] for lot in lots), Fraction(0))
    if not held:
        assert result.total_return is None
        return
    assert result.total_return is not None
    # The total is a sum of rounded position figures: within half a cent per position of the exact sum.
    assert abs(Fraction(result.total_return) - expected) <= Fraction(len(held), 100)
    for position in result.positions:
        # Price part + currency part = value in base - cost in base (exactly, up to the 50-digit arithmetic).
        parts = Fraction(position.price_return) + Fraction(position.currency_return)  # type: ignore[arg-type]
        whole = Fraction(position.value_in_base) - Fraction(position.cost_in_base)  # type: ignore[arg-type]
        assert abs(parts - whole) < Fraction(1, 10**30)
