"""Validating one transaction's fields (from JSON or a CSV row): every bad field named, nothing guessed.

Rules (docs/portfolio.md lists them): `type` one of models.ledger.TYPES; `symbol` required
for buy, sell, split and dividend, optional otherwise; `quantity` > 0 (a split's ratio,
new shares per old share), defaulting to 1 for interest, fee, deposit and withdrawal;
`price` >= 0 (the amount for those cash types), not needed for a split; `fees` >= 0;
`currency` an ISO code or a minor-unit code such as GBp; `executed_at` ISO-8601 (a date
alone is midnight UTC, no zone means UTC), not in the future; optional `fx_rate` > 0.
Numbers have at most 8 decimal places (12 for fx_rate) and fit the stored columns, so
nothing is rounded away when stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from models.base import FX_RATE, MONEY
from models.currency import MINOR_UNIT_CURRENCIES, is_currency_code
from models.ledger import CASH_TYPES, NEEDS_SYMBOL, TYPES
from protocol.codes import ProtocolError
from protocol.symbols import normalize_symbol

FIELDS = ("type", "symbol", "quantity", "price", "currency", "fees", "executed_at", "fx_rate", "note")
# A trade stamped a little ahead of this server's clock is fine; one days ahead is a typo.
FUTURE_TOLERANCE = timedelta(days=1)


class InvalidTransaction(ValueError):
    """Bad fields: {field: reason}."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {why}" for name, why in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class TransactionFields:
    """A transaction's validated fields; currency None means 'the asset's, else the base currency'."""

    kind: str
    symbol: str | None
    quantity: Decimal
    price: Decimal
    currency: str | None
    fees: Decimal
    executed_at: datetime
    fx_rate: Decimal | None
    note: str


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: object, places: int, column: Any) -> Decimal:
    """An exact Decimal from a JSON number or a string; floats go through their shortest repr."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("must be a number")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {str(value)[:30]!r}") from None
    if not number.is_finite() or not column.fits(number):
        raise ValueError("out of range")
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValueError(f"at most {places} decimal places")
    return number


def parse_currency(value: object) -> str:
    """An ISO 4217 code (upper-cased) or a minor-unit code kept as written (GBp)."""
    if not isinstance(value, str):
        raise ValueError("must be a currency code such as USD or GBp")
    code = value.strip()
    if code in MINOR_UNIT_CURRENCIES:
        return code
    if not is_currency_code(code.upper()):
        raise ValueError(f"not a currency code: {code[:12]!r}")
    return code.upper()


def parse_moment(value: object, now: datetime) -> datetime:
    """ISO-8601 date or date-time, in UTC; not in the future."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 date-time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO-8601 date-time: {value[:40]!r}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now + FUTURE_TOLERANCE:
        raise ValueError("is in the future")
    return moment


def _field(errors: dict[str, str], name: str, parse: Any, value: object) -> Any:
    """parse(value), or None with the reason recorded under `name`."""
    try:
        return parse(value)
    except (ValueError, ProtocolError) as exc:
        errors[name] = getattr(exc, "message", None) or str(exc)
        return None


def _amount(errors: dict[str, str], raw: Mapping[str, Any], name: str, default: Decimal | None) -> Decimal | None:
    """A number field: its parsed value if given, else `default`; 'required' when neither exists."""
    value = default
    if name in raw and not _blank(raw[name]):
        value = _field(errors, name, lambda v: _number(v, 8, MONEY), raw[name])
    if value is None and name not in errors:
        errors[name] = "required"
    return value


def _check(errors: dict[str, str], name: str, bad: bool, reason: str) -> None:
    """Record `reason` for `name` when `bad` and nothing is recorded yet."""
    if bad and name not in errors:
        errors[name] = reason


def parse_transaction(raw: Mapping[str, Any], now: datetime, partial_of: TransactionFields | None = None
                      ) -> TransactionFields:
    """Validate `raw`; with `partial_of`, fields missing from `raw` keep that transaction's values."""
    errors = {name: "unknown field" for name in sorted(set(raw) - set(FIELDS))}
    old = partial_of
    kind = raw.get("type", old.kind if old else None)
    _check(errors, "type", kind not in TYPES, f"must be one of {', '.join(TYPES)}")
    symbol = old.symbol if old and "symbol" not in raw else None
    if not _blank(raw.get("symbol")):
        symbol = _field(errors, "symbol", normalize_symbol, raw["symbol"])
    _check(errors, "symbol", kind in NEEDS_SYMBOL and symbol is None, f"required for {kind}")
    cash = kind in CASH_TYPES
    quantity = _amount(errors, raw, "quantity", old.quantity if old else (Decimal(1) if cash else None))
    _check(errors, "quantity", quantity is not None and quantity <= 0,
           "must be greater than 0" + (" (the split ratio)" if kind == "split" else ""))
    price = _amount(errors, raw, "price", old.price if old else (Decimal(0) if kind == "split" else None))
    if cash and errors.get("price") == "required":
        errors["price"] = "required (the amount)"
    _check(errors, "price", price is not None and price < 0, "must not be negative")
    fees = _amount(errors, raw, "fees", old.fees if old else Decimal(0))
    _check(errors, "fees", fees is not None and fees < 0, "must not be negative")
    currency = old.currency if old else None
    if not _blank(raw.get("currency")):
        currency = _field(errors, "currency", parse_currency, raw["currency"])
    executed_at = old.executed_at if old else None
    if not _blank(raw.get("executed_at")):
        executed_at = _field(errors, "executed_at", lambda v: parse_moment(v, now), raw["executed_at"])
    _check(errors, "executed_at", executed_at is None, "required (ISO-8601)")
    fx_rate = old.fx_rate if old and "fx_rate" not in raw else None
    if not _blank(raw.get("fx_rate")):
        fx_rate = _field(errors, "fx_rate", lambda v: _number(v, 12, FX_RATE), raw["fx_rate"])
        _check(errors, "fx_rate", fx_rate is not None and fx_rate <= 0, "must be greater than 0")
    note = raw.get("note", old.note if old else "") or ""
    _check(errors, "note", not isinstance(note, str) or len(note) > 200, "must be text of at most 200 characters")
    if errors:
        raise InvalidTransaction(errors)
    assert quantity is not None and price is not None and fees is not None and executed_at is not None
    return TransactionFields(str(kind), symbol, quantity, price, currency, fees, executed_at, fx_rate, note)
