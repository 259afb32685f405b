"""Currency codes, minor units, FX conversion and edge rounding (pure, Decimal only).

Conventions (shared with models.valuation):
- FX rates are keyed like Yahoo Finance: 'EURUSD=X' with rate r means 1 EUR = r USD.
- Quote currencies may be minor units ('GBp'/'GBX' pence, 'ILA' agorot, 'ZAc' cents);
  they are converted to their major currency (divide by 100) before any FX lookup.
- Minor-unit API (used by the feed and the ledger): MINOR_UNIT_CURRENCIES, normalize_currency(code),
  same_money(a, b), unit_factor(from_code, to_code) and is_currency_code(code). Codes keep the provider's case.
- Rounding mode is ROUND_HALF_EVEN (banker's rounding): it is unbiased when many rounded
  figures are summed, which is exactly what portfolio totals do. Rounding happens only
  at the edge (as_dict()/to_message()); all arithmetic before runs at PRECISION digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from functools import lru_cache

ROUNDING = ROUND_HALF_EVEN
# 50 significant digits: far above any real balance, so products never round.
PRECISION = 50
CONTEXT = Context(prec=PRECISION, rounding=ROUNDING)

PERCENT_PLACES = 2
DEFAULT_MONEY_PLACES = 2
# ISO 4217 minor-unit exponents that differ from the default of 2.
MONEY_PLACES: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "PYG": 0,
    "UGX": 0,
    "XOF": 0,
    "XAF": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
    "IQD": 3,
    "LYD": 3,
}

# Quote currencies in a minor unit: code -> (major currency, minor units per major).
MINOR_UNIT_CURRENCIES: dict[str, tuple[str, int]] = {
    "GBp": ("GBP", 100),
    "GBX": ("GBP", 100),
    "GBx": ("GBP", 100),
    "ILA": ("ILS", 100),
    "ZAc": ("ZAR", 100),
    "ZAC": ("ZAR", 100),
}

_HUNDRED = Decimal(100)


class CurrencyMismatch(ValueError):
    """Two currency codes are different money (GBP vs USD), not one money in two units (GBP vs GBp)."""


def is_currency_code(code: str) -> bool:
    """An ISO 4217 code ('USD') or a minor-unit code from the table ('GBp', 'ZAc', 'ILA')."""
    return code in MINOR_UNIT_CURRENCIES or (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper())


def same_money(first: str, second: str) -> bool:
    """Whether two codes are the same money, perhaps in different units ('GBp' and 'GBP': yes)."""
    return normalize_currency(first)[0] == normalize_currency(second)[0]


def unit_factor(from_code: str, to_code: str) -> Decimal:
    """Multiply an amount in from_code by this to express it in to_code: 'GBp' -> 'GBP' is 0.01.

    Raises CurrencyMismatch when the codes are different money (that needs an FX rate, see conversion_factor).
    """
    from_major, from_div = normalize_currency(from_code)
    to_major, to_div = normalize_currency(to_code)
    if from_major != to_major:
        raise CurrencyMismatch(f"{from_code} and {to_code} are different currencies")
    with localcontext(CONTEXT):
        return Decimal(to_div) / Decimal(from_div)


@dataclass(frozen=True)
class FxRate:
    """FX quote: 1 unit of the symbol's first currency = rate units of the second."""

    rate: Decimal
    as_of: datetime | None = None


def normalize_currency(code: str) -> tuple[str, int]:
    """(major ISO code, divisor) of a quote currency: 'GBp' -> ('GBP', 100)."""
    code = code.strip()
    # Exact match first: 'GBp' (pence) must not be upper-cased into 'GBP' (pounds).
    if code in MINOR_UNIT_CURRENCIES:
        return MINOR_UNIT_CURRENCIES[code]
    return code.upper(), 1


def money_places(code: str) -> int:
    """Decimal places of a currency's smallest unit (minor-unit codes: 'GBp' -> 0)."""
    major, divisor = normalize_currency(code)
    places = MONEY_PLACES.get(major, DEFAULT_MONEY_PLACES)
    # A pence amount is already in the minor unit: 2 places of GBP = 0 places of GBp.
    places -= Decimal(divisor).adjusted()
    return max(places, 0)


@lru_cache(maxsize=1024)
def _money_quantum(currency: str) -> Decimal:
    """1 of the currency's minor unit, e.g. 0.01 (a revaluation round asks this ~15 times per position)."""
    return Decimal(1).scaleb(-money_places(currency))


_PERCENT_QUANTUM = Decimal(1).scaleb(-PERCENT_PLACES)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round an amount to the currency's minor unit (the edge rounding for money)."""
    # context= is what `with localcontext(CONTEXT)` gives quantize, without entering and leaving a context.
    return amount.quantize(_money_quantum(currency), context=CONTEXT)


def round_percent(value: Decimal) -> Decimal:
    """Round a percentage to PERCENT_PLACES places."""
    return value.quantize(_PERCENT_QUANTUM, context=CONTEXT)


def fx_symbol(from_major: str, to_major: str) -> str:
    """Yahoo-style FX symbol for converting from_major into to_major ('EURUSD=X')."""
    return f"{from_major}{to_major}=X"


def _usable(fx: FxRate | None) -> Decimal | None:
    """Return the rate if it can be used (present and strictly positive)."""
    # A zero or negative rate is a bad quote: never divide by it or multiply with it.
    if fx is None or fx.rate is None or not fx.rate > 0:
        return None
    return fx.rate


def major_rate(from_major: str, to_major: str, fx_rates: Mapping[str, FxRate]) -> Decimal | None:
    """Rate to multiply a from_major amount by to get to_major, or None if unknown."""
    if from_major == to_major:
        return Decimal(1)
    direct = _usable(fx_rates.get(fx_symbol(from_major, to_major)))
    if direct is not None:
        return direct
    inverse = _usable(fx_rates.get(fx_symbol(to_major, from_major)))
    if inverse is not None:
        with localcontext(CONTEXT):
            return Decimal(1) / inverse
    return None


def conversion_factor(from_currency: str, to_currency: str, fx_rates: Mapping[str, FxRate]) -> Decimal | None:
    """Factor converting from_currency amounts into to_currency; None if unknown."""
    from_major, from_div = normalize_currency(from_currency)
    to_major, to_div = normalize_currency(to_currency)
    rate = major_rate(from_major, to_major, fx_rates)
    if rate is None:
        return None
    with localcontext(CONTEXT):
        return rate * to_div / from_div


def convert(
    amount: Decimal,
    from_currency: str,
    to_currency: str,
    fx_rates: Mapping[str, FxRate],
) -> Decimal | None:
    """Convert at full precision (unrounded); None when no usable FX rate exists."""
    factor = conversion_factor(from_currency, to_currency, fx_rates)
    if factor is None:
        return None
    with localcontext(CONTEXT):
        return amount * factor


def fx_symbols_needed(currencies: Iterable[str], base: str) -> set[str]:
    """FX symbols the feed must track to convert every currency into base.

    Returns the direct symbol ('EURUSD=X' for EUR into USD); convert() also accepts the
    inverse quote ('USDEUR=X') if that is what the feed happens to have.
    """
    base_major, _ = normalize_currency(base)
    needed = set()
    for code in currencies:
        major, _ = normalize_currency(code)
        if major != base_major:
            needed.add(fx_symbol(major, base_major))
    return needed


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """Part as a percentage of |whole| at full precision; None when whole is zero.

    Dividing by the absolute value keeps the result's sign equal to the sign of part
    (a short position that loses money shows a negative percentage).
    """
    if whole == 0:
        return None
    # The context's own operations: what `with localcontext(CONTEXT)` gives the operators, without entering it.
    return CONTEXT.divide(CONTEXT.multiply(part, _HUNDRED), CONTEXT.abs(whole))
