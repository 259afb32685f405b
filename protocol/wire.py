"""JSON on the wire: Decimal as exact numbers, times in ISO-8601 ending in Z, the client envelope."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal
from typing import Any

# Decimals up to this many significant digits survive a float round trip with their exact text.
_EXACT_FLOAT_DIGITS = 15
# Rounds to that many digits and never traps (any exponent, no signals): only used to compare.
_FIFTEEN_DIGITS = Context(prec=_EXACT_FLOAT_DIGITS, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC ending in Z; a naive datetime is taken as UTC (how the database returns them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_or_none(moment: datetime | None) -> str | None:
    """iso() of a datetime that may be missing."""
    return None if moment is None else iso(moment)


def json_number(value: Decimal) -> float | str | None:
    """A Decimal as JSON: a number when its digits survive a float, else its exact text; None if not finite.

    Trailing zeros do not count: 2950000000000.00000000 from a NUMERIC(24, 8) column and 2950000000000 from a
    provider are the same number and get the same JSON type.
    """
    if not value.is_finite():
        return None
    # Unchanged by rounding to 15 significant digits means it has at most 15 once trailing zeros go: the
    # common case, answered ~10x faster than counting the digits (which stays the rule for the rest).
    if _FIFTEEN_DIGITS.plus(value) == value or len(value.normalize().as_tuple().digits) <= _EXACT_FLOAT_DIGITS:
        return float(value)
    return str(value)


def json_default(value: object) -> object:
    """JSON for Decimal (a number with its exact digits where possible) and datetimes."""
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(payload: object) -> str:
    """Compact JSON with our Decimal and datetime rules."""
    return json.dumps(payload, default=json_default, separators=(",", ":"))


def reject_constant(name: str) -> Any:
    """json.loads hook: NaN and Infinity are not JSON and would poison comparisons."""
    raise ValueError(f"not JSON: {name}")


def loads(text: str | bytes) -> Any:
    """Strict JSON: ValueError for NaN/Infinity as well as for malformed text."""
    return json.loads(text, parse_constant=reject_constant)


def envelope(kind: str, data: dict[str, Any], connection_id: str | None = None,
             timestamp: datetime | None = None) -> dict[str, Any]:
    """The standard message shape {type, data, timestamp, connection_id}."""
    return {
        "type": kind,
        "data": data,
        "timestamp": iso(timestamp or datetime.now(UTC)),
        "connection_id": connection_id,
    }


def client_envelope(kind: str, data: dict[str, Any], connection_id: str | None = None) -> str:
    """One server->client frame, serialized: envelope + dumps."""
    return dumps(envelope(kind, data, connection_id))


def client_envelope_json(kind: str, data_json: str, connection_id: str | None = None,
                         timestamp: datetime | None = None) -> str:
    """client_envelope() with `data` serialised already (`dumps(data)`): the same text, joined, not re-encoded.

    A snapshot's data is the same for every socket and only the envelope differs, so the data is encoded
    once per update and each socket's reply costs a join.
    """
    moment = iso(timestamp or datetime.now(UTC))
    return (f'{{"type":{json.dumps(kind)},"data":{data_json},"timestamp":"{moment}",'
            f'"connection_id":{json.dumps(connection_id)}}}')
