"""The one symbol rule, shared by the WebSocket protocol, the REST API, the CLI and the provider adapters.

A symbol is upper case, at most MAX_SYMBOL_LENGTH characters: an optional ``^`` (indices), then letters
and digits in segments joined by ``.``, ``-`` or ``=``. That covers tickers (AAPL), share classes
(BRK-B, BRK.B), exchange suffixes (VOD.L, 7203.T), FX pairs (EURUSD=X), crypto (BTC-USD), indices
(^GSPC) and futures (GC=F), and rejects empty segments, spaces and anything else.
"""

from __future__ import annotations

import re

from protocol.codes import BAD_REQUEST, ProtocolError

MAX_SYMBOL_LENGTH = 20
SYMBOL_PATTERN = re.compile(r"^\^?[A-Z0-9]+(?:[.\-=][A-Z0-9]+)*$")
# A rejected string is echoed in its error cut to this many characters.
SHOWN_SYMBOL_CHARS = 24


def shown(raw: object) -> str:
    """A rejected value for an error message: its repr, a string cut to SHOWN_SYMBOL_CHARS."""
    if isinstance(raw, str) and len(raw) > SHOWN_SYMBOL_CHARS:
        return repr(raw[:SHOWN_SYMBOL_CHARS] + "…")
    text = repr(raw)
    return text if len(text) <= SHOWN_SYMBOL_CHARS else text[:SHOWN_SYMBOL_CHARS] + "…"


def symbol_problem(raw: object) -> str | None:
    """Why `raw` is not a symbol (naming the value), or None when it is one."""
    if not isinstance(raw, str):
        return f"invalid symbol: {shown(raw)} is not a string"
    text = raw.strip().upper()
    if not text:
        return "invalid symbol: empty"
    if len(text) > MAX_SYMBOL_LENGTH:
        return f"invalid symbol: {shown(raw)} is longer than {MAX_SYMBOL_LENGTH} characters"
    if not SYMBOL_PATTERN.match(text):
        return f"invalid symbol: {shown(raw)}"
    return None


def normalize_symbol(raw: object) -> str:
    """The upper-case, stripped symbol, or ProtocolError (BAD_REQUEST) naming the value."""
    problem = symbol_problem(raw)
    if problem is not None:
        raise ProtocolError(BAD_REQUEST, problem)
    assert isinstance(raw, str)  # symbol_problem rejects everything else
    return raw.strip().upper()


def symbol_or_none(raw: object) -> str | None:
    """The normalized symbol, or None when `raw` breaks the rule (for filtering provider data)."""
    return None if symbol_problem(raw) is not None else str(raw).strip().upper()


def is_valid_symbol(raw: object) -> bool:
    """True when `raw` is an acceptable symbol."""
    return symbol_problem(raw) is None
