"""Which market an asset trades on: its exchange (MIC) and time zone, from provider metadata or its symbol.

Rules, in order (docs/feed.md, "Market sessions"):
- the provider's metadata, when it names an exchange we know (a MIC, or Yahoo's code such as NMS or LSE);
- else the symbol: `EURUSD=X` (and Yahoo's `JPY=X`) is FX, `BTC-USD` is crypto, a suffix names the
  exchange (`.L` XLON, `.DE` XETR, `.T` XTKS, ...), no suffix is a US listing (XNYS);
- anything else (an unknown suffix, futures `=F`) is an unknown exchange: always open, and it says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

# Pseudo-MICs of the markets that have no exchange calendar.
FX = "FX"  # 24/5: Sunday 17:00 to Friday 17:00 New York
CRYPTO = "CRYPTO"  # 24/7
UNKNOWN = "UNKNOWN"
US_DEFAULT = "XNYS"
# Calendars a serving process builds before it serves (models.session_view.warm_calendars).
COMMON_MICS = ("XNYS", "XNAS", "XLON", "XETR", "XTKS")
NEW_YORK = "America/New_York"

KIND_EXCHANGE = "exchange"
KIND_FX = "fx"
KIND_CRYPTO = "crypto"
KIND_UNKNOWN = "unknown"

# Yahoo Finance symbol suffixes -> MIC (exchange-calendars names).
SUFFIX_MICS = {
    "L": "XLON", "DE": "XETR", "F": "XFRA", "T": "XTKS", "PA": "XPAR", "AS": "XAMS", "BR": "XBRU",
    "MI": "XMIL", "MC": "XMAD", "SW": "XSWX", "TO": "XTSE", "V": "XTSX", "AX": "XASX", "HK": "XHKG",
    "ST": "XSTO", "OL": "XOSL", "CO": "XCSE", "HE": "XHEL", "VI": "XWBO", "LS": "XLIS", "IR": "XDUB",
    "NZ": "XNZE", "SI": "XSES", "KS": "XKRX", "TW": "XTAI", "SA": "BVMF", "MX": "XMEX", "JO": "XJSE",
}  # fmt: skip

# Yahoo's `exchange` codes -> MIC; CCY and CCC are its FX and crypto markets.
YAHOO_EXCHANGES = {
    "NMS": "XNAS", "NGM": "XNAS", "NCM": "XNAS", "NAS": "XNAS", "NASDAQ": "XNAS", "NYQ": "XNYS", "NYSE": "XNYS",
    "ASE": "XASE", "PCX": "ARCX", "BTS": "BATS", "LSE": "XLON", "IOB": "XLON", "GER": "XETR", "ETR": "XETR",
    "FRA": "XFRA", "JPX": "XTKS", "TYO": "XTKS", "PAR": "XPAR", "AMS": "XAMS", "BRU": "XBRU", "MIL": "XMIL",
    "MCE": "XMAD", "EBS": "XSWX", "TOR": "XTSE", "VAN": "XTSX", "ASX": "XASX", "HKG": "XHKG", "STO": "XSTO",
    "OSL": "XOSL", "CPH": "XCSE", "HEL": "XHEL", "VIE": "XWBO", "LIS": "XLIS", "ISE": "XDUB", "NZE": "XNZE",
    "SES": "XSES", "KSC": "XKRX", "TAI": "XTAI", "SAO": "BVMF", "MEX": "XMEX", "JNB": "XJSE",
    "CCY": FX, "CCC": CRYPTO,
}  # fmt: skip

_FX_SYMBOL = re.compile(r"^(?:[A-Z]{6}|[A-Z]{3})=X$")
_CRYPTO_SYMBOL = re.compile(r"^[A-Z0-9]{2,10}-(?:USD|USDT|USDC|EUR|GBP|JPY|BTC|ETH)$")
_SUFFIX = re.compile(r"^[A-Z0-9^][A-Z0-9\-^]*\.([A-Z]{1,3})$")


@dataclass(frozen=True)
class Market:
    """Where an asset trades: `mic` (or FX / CRYPTO / UNKNOWN), its IANA time zone, and how it was decided."""

    mic: str
    timezone: str
    kind: str
    source: str  # "provider", "symbol" or "default"
    note: str | None = None

    @property
    def always_open(self) -> bool:
        """Crypto and unknown exchanges never close."""
        return self.kind in (KIND_CRYPTO, KIND_UNKNOWN)


@cache
def calendar_names() -> frozenset[str]:
    """Every calendar exchange-calendars knows (MICs and its aliases)."""
    import exchange_calendars

    return frozenset(exchange_calendars.get_calendar_names(include_aliases=True))


@cache
def calendar(mic: str) -> Any:
    """The exchange-calendars calendar of a MIC (computed once per process, no download)."""
    import exchange_calendars

    return exchange_calendars.get_calendar(mic)


@cache
def calendar_timezone(mic: str) -> str:
    """The IANA time zone of an exchange's calendar."""
    return str(calendar(mic).tz)


def _mic_of(code: str | None) -> str | None:
    """A MIC for a provider's exchange code, or None when it is not one we know."""
    if not code:
        return None
    code = code.strip().upper()
    if code in (FX, CRYPTO):
        return code
    mapped = YAHOO_EXCHANGES.get(code)
    if mapped:
        return mapped
    return code if code.startswith("X") and code in calendar_names() else None


def _market(mic: str, source: str, timezone: str | None = None) -> Market:
    if mic == FX:
        return Market(FX, NEW_YORK, KIND_FX, source)
    if mic == CRYPTO:
        return Market(CRYPTO, timezone or "UTC", KIND_CRYPTO, source)
    return Market(mic, timezone or calendar_timezone(mic), KIND_EXCHANGE, source)


def unknown_market(label: str, timezone: str | None = None) -> Market:
    """An exchange without a calendar: treated as always open, and saying so."""
    return Market(UNKNOWN, timezone or "UTC", KIND_UNKNOWN, "default",
                  f"unknown exchange {label}: treated as always open")


def market_for_symbol(symbol: str) -> Market:
    """The market a symbol's own shape implies (no provider metadata)."""
    symbol = symbol.strip().upper()
    if _FX_SYMBOL.match(symbol):
        return _market(FX, "symbol")
    if _CRYPTO_SYMBOL.match(symbol):
        return _market(CRYPTO, "symbol")
    suffix = _SUFFIX.match(symbol)
    if suffix:
        mic = SUFFIX_MICS.get(suffix.group(1))
        return _market(mic, "symbol") if mic else unknown_market(f"suffix .{suffix.group(1)}")
    if "=" in symbol:  # futures (ES=F) and other derivatives: no calendar here
        return unknown_market(f"for {symbol}")
    return _market(US_DEFAULT, "default")


def resolve_market(symbol: str, exchange: str | None = None, timezone: str | None = None) -> Market:
    """The asset's market: the stored or provider-stated exchange when known, else its symbol's."""
    if exchange and exchange.strip().upper() == UNKNOWN:
        return unknown_market(f"for {symbol}", timezone)
    mic = _mic_of(exchange)
    if mic is not None:
        return _market(mic, "provider", timezone)
    return market_for_symbol(symbol)
