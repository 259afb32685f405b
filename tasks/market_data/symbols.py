"""Canonical symbols (Yahoo's form) and what each provider can serve: classes, exchanges, plan."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "CRYPTO",
    "EQUITY",
    "FUTURE",
    "FX",
    "INDEX",
    "Capabilities",
    "SymbolInfo",
    "classify",
]

EQUITY, INDEX, FX, CRYPTO, FUTURE = "equity", "index", "fx", "crypto", "future"

# BTC-USD, ETH-EUR: a coin and a fiat/stable quote currency (BRK-B is a share class, not a pair).
_CRYPTO = re.compile(r"^([A-Z0-9]{2,10})-(USD|EUR|GBP|JPY|USDT|USDC|BTC|ETH)$")
_FX = re.compile(r"^([A-Z]{3})([A-Z]{3})=X$")
_SUFFIX = re.compile(r"^(.+)\.([A-Z]{1,3})$")


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """A canonical symbol taken apart: its class, the ticker and the Yahoo exchange suffix ('' = US)."""

    symbol: str
    kind: str
    ticker: str
    suffix: str = ""
    base: str = ""  # FX/crypto: the first currency; ticker then holds the second
    quote: str = ""


def classify(symbol: str) -> SymbolInfo:
    """Classify a canonical symbol: ^GSPC index, EURUSD=X fx, BTC-USD crypto, GC=F future, VOD.L equity."""
    if symbol.startswith("^"):
        return SymbolInfo(symbol, INDEX, symbol[1:])
    if symbol.endswith("=F"):
        return SymbolInfo(symbol, FUTURE, symbol[:-2])
    if fx := _FX.match(symbol):
        return SymbolInfo(symbol, FX, symbol, base=fx.group(1), quote=fx.group(2))
    if coin := _CRYPTO.match(symbol):
        return SymbolInfo(symbol, CRYPTO, symbol, base=coin.group(1), quote=coin.group(2))
    if suffixed := _SUFFIX.match(symbol):
        return SymbolInfo(symbol, EQUITY, suffixed.group(1), suffixed.group(2))
    return SymbolInfo(symbol, EQUITY, symbol)


#: Maps a classified symbol to the provider's form; None when the provider has no form for it.
Mapper = Callable[[SymbolInfo], str | None]


@dataclass(frozen=True)
class Capabilities:
    """What a provider serves: asset classes, equity exchanges (Yahoo suffixes; '' = US) and the plan assumed."""

    kinds: frozenset[str]
    #: Yahoo suffix -> the provider's own suffix; None = every exchange, suffix kept as is.
    exchanges: Mapping[str, str] | None = None
    plan: str = "any"
    mapper: Mapper | None = field(default=None, compare=False)

    def provider_symbol(self, symbol: str) -> tuple[str | None, str]:
        """(provider form, why) for a canonical symbol; the form is None when the provider cannot serve it."""
        info = classify(symbol)
        if info.kind not in self.kinds:
            return None, f"serves no {info.kind} symbols on the {self.plan} plan"
        if info.kind == EQUITY and self.exchanges is not None and info.suffix not in self.exchanges:
            where = f"exchange suffix .{info.suffix}" if info.suffix else "US listings"
            return None, f"serves no {where} on the {self.plan} plan"
        if self.mapper is not None:
            mapped = self.mapper(info)
            if mapped is None:
                return None, f"has no form for {symbol}"
            return mapped, "mapped" if mapped != symbol else "same form"
        if info.kind == EQUITY and self.exchanges is not None and info.suffix:
            return f"{info.ticker}.{self.exchanges[info.suffix]}", "mapped"
        return symbol, "same form"
