"""`flask demo seed`: the demo account and its portfolio, idempotently."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import click
from flask.cli import AppGroup
from sqlalchemy import select

from models import Portfolio, User, WatchlistItem, db, utcnow
from models.ledger_service import add_transactions
from models.market import get_or_create_asset

demo_cli = AppGroup("demo", help="Demo data.")

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
DEMO_PORTFOLIO = "Growth Portfolio"
# symbol, name, quantity, total cost basis (USD)
DEMO_POSITIONS = (
    ("AAPL", "Apple Inc.", "50", "7500.00"),
    ("MSFT", "Microsoft Corporation", "30", "8400.00"),
    ("GOOGL", "Alphabet Inc. Class A", "40", "4800.00"),
    ("AMZN", "Amazon.com, Inc.", "25", "3250.00"),
    ("TSLA", "Tesla, Inc.", "15", "3000.00"),
)
DEMO_HELD_DAYS = 400
DEMO_WATCHLIST = (("AAPL", "Apple Inc."), ("NVDA", "NVIDIA Corporation"), ("NFLX", "Netflix, Inc."))
# What the feed tracks for the demo: held and watched symbols.
DEMO_SYMBOLS = sorted({symbol for symbol, *_ in DEMO_POSITIONS} | {symbol for symbol, _ in DEMO_WATCHLIST})


def seed_demo() -> User:
    """Create the demo user, portfolio and watchlist unless they exist."""
    user = db.session.scalar(select(User).where(User.username == DEMO_USERNAME))
    if user is None:
        user = User(username=DEMO_USERNAME)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        db.session.flush()
    portfolio = db.session.scalar(
        select(Portfolio).where(Portfolio.user_id == user.id, Portfolio.name == DEMO_PORTFOLIO)
    )
    if portfolio is None:
        portfolio = Portfolio(owner=user, name=DEMO_PORTFOLIO, base_currency="USD")
        db.session.add(portfolio)
        db.session.flush()
    held = {position.asset.symbol for position in portfolio.positions}
    # Opening positions go into the ledger as transfers in at their cost, like migrated positions.
    rows: list[tuple[int, dict[str, str]]] = []
    # Dated long ago, so the demo's returns of recent periods are not today's arrival of the holdings.
    opened = utcnow() - timedelta(days=DEMO_HELD_DAYS)
    for symbol, name, quantity, cost in DEMO_POSITIONS:
        if symbol not in held:
            get_or_create_asset(symbol, name)
            rows.append((len(rows) + 1, {"type": "transfer_in", "symbol": symbol, "quantity": quantity,
                                         "price": str(Decimal(cost) / Decimal(quantity)),
                                         "executed_at": opened.isoformat(), "note": "demo"}))
    add_transactions(portfolio, rows, utcnow())
    watched = set(db.session.scalars(select(WatchlistItem.asset_id).where(WatchlistItem.user_id == user.id)))
    for symbol, name in DEMO_WATCHLIST:
        asset = get_or_create_asset(symbol, name)
        if asset.id not in watched:
            db.session.add(WatchlistItem(user_id=user.id, asset_id=asset.id))
    db.session.commit()
    return user


@demo_cli.command("seed")
def seed_command() -> None:
    """Create user demo/demo with the "Growth Portfolio" (safe to run again)."""
    user = seed_demo()
    click.echo(f"demo user ready (id {user.id}, password {DEMO_PASSWORD!r})")
