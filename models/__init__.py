"""The data model: plain SQLAlchemy 2 mappings, plus the shared message and bus modules."""

from models import ledger_version  # noqa: F401  (registers the listener that moves portfolios.ledger_version)
from models.base import Base, db, utcnow
from models.market import Asset, PriceHistory, Quote, WatchlistItem
from models.portfolio import Portfolio, PortfolioValue, Position, Transaction
from models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "Asset",
    "Base",
    "Portfolio",
    "PortfolioValue",
    "Position",
    "PriceHistory",
    "Quote",
    "Transaction",
    "User",
    "WatchlistItem",
    "db",
    "utcnow",
]
