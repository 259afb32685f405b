"""Market data providers behind one interface, with fallback, limits, breaker and cache."""

from .alpha_vantage import AlphaVantageSource
from .base import (
    FeedEvent,
    HistoryPoint,
    InvalidDataError,
    MarketDataError,
    MarketDataSource,
    QuoteResult,
    RateLimitedError,
    SourceError,
    SymbolError,
    TransientSourceError,
    UnknownSymbolError,
)
from .breaker import SourceHealth
from .cache import InProcessQuoteCache, RedisQuoteCache
from .finnhub import FinnhubSource
from .manager import DataSourceManager
from .rate_limit import InProcessRateLimiter, RedisRateLimiter
from .registry import SOURCE_REGISTRY, build_data_source_manager
from .simulated import SimulatedSource
from .yahoo import YahooFinanceSource

__all__ = [
    "SOURCE_REGISTRY",
    "AlphaVantageSource",
    "DataSourceManager",
    "FeedEvent",
    "FinnhubSource",
    "HistoryPoint",
    "InProcessQuoteCache",
    "InProcessRateLimiter",
    "InvalidDataError",
    "MarketDataError",
    "MarketDataSource",
    "QuoteResult",
    "RateLimitedError",
    "RedisQuoteCache",
    "RedisRateLimiter",
    "SimulatedSource",
    "SourceError",
    "SourceHealth",
    "SymbolError",
    "TransientSourceError",
    "UnknownSymbolError",
    "YahooFinanceSource",
    "build_data_source_manager",
]
