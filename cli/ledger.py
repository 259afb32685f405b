"""`flask portfolios ...` and `flask transactions ...`: the ledger from the command line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from infra.revaluation import revalue_portfolios
from models import Portfolio, User, db, utcnow
from models.ledger_service import InvalidRows, add_transactions, create_portfolio
from models.transaction_csv import BadHeader, read_rows
from models.transaction_input import InvalidTransaction

portfolios_cli = AppGroup("portfolios", help="Manage portfolios.")
transactions_cli = AppGroup("transactions", help="Record and import ledger transactions.")


def _reasons(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {why}" for name, why in errors.items())


@portfolios_cli.command("create")
@click.argument("username")
@click.argument("name")
@click.option("--base-currency", default="USD", show_default=True)
def create(username: str, name: str, base_currency: str) -> None:
    """Create portfolio NAME for USERNAME."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    try:
        portfolio = create_portfolio(user.id, {"name": name, "base_currency": base_currency})
    except InvalidTransaction as exc:
        raise click.ClickException(_reasons(exc.errors)) from None
    db.session.commit()
    click.echo(f"created portfolio {portfolio.name} (id {portfolio.id}, {portfolio.base_currency})")


def _portfolio(portfolio_id: int) -> Portfolio:
    portfolio = db.session.get(Portfolio, portfolio_id)
    if portfolio is None:
        raise click.ClickException(f"no portfolio {portfolio_id}")
    return portfolio


def _record(portfolio: Portfolio, rows: Any, now: datetime, dry_run: bool) -> int:
    """Add rows all or nothing; commit and revalue unless dry_run; the count added."""
    try:
        ids = add_transactions(portfolio, rows, now)
    except InvalidRows as exc:
        db.session.rollback()
        for line, errors in exc.rows:
            click.echo(f"line {line}: {_reasons(errors)}", err=True)
        raise click.ClickException(f"{len(exc.rows)} bad rows: nothing imported") from None
    except InvalidTransaction as exc:  # the ledger as a whole cannot be applied
        db.session.rollback()
        raise click.ClickException(f"{_reasons(exc.errors)}: nothing imported") from None
    if dry_run:
        db.session.rollback()
        return len(ids)
    db.session.commit()
    revalue_portfolios([portfolio.id])
    return len(ids)


@transactions_cli.command("add")
@click.argument("portfolio_id", type=int)
@click.option("--type", "kind", required=True)
@click.option("--symbol")
@click.option("--quantity")
@click.option("--price")
@click.option("--currency")
@click.option("--fees")
@click.option("--executed-at", help="ISO-8601; default now")
@click.option("--fx-rate")
@click.option("--note")
def add(portfolio_id: int, kind: str, executed_at: str | None, fx_rate: str | None, **fields: str | None) -> None:
    """Record one transaction in PORTFOLIO_ID."""
    now = utcnow()
    raw = {name: value for name, value in fields.items() if value is not None}
    raw.update(type=kind, executed_at=executed_at or now.isoformat())
    if fx_rate is not None:
        raw["fx_rate"] = fx_rate
    _record(_portfolio(portfolio_id), [(1, raw)], now, dry_run=False)
    click.echo(f"recorded {kind} in portfolio {portfolio_id}")


@transactions_cli.command("import")
@click.argument("portfolio_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate every row and apply nothing.")
def import_csv(portfolio_id: int, path: Path, dry_run: bool) -> None:
    """Import FILE.csv into PORTFOLIO_ID: every row validated, all or nothing (docs/portfolio.md)."""
    portfolio = _portfolio(portfolio_id)
    with path.open(newline="", encoding="utf-8-sig") as stream:
        try:
            rows = list(read_rows(stream))
        except BadHeader as exc:
            raise click.ClickException(f"line 1: {exc}") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise click.ClickException(f"not a readable CSV file: {exc}") from None
    count = _record(portfolio, rows, utcnow(), dry_run)
    click.echo(f"{'would import' if dry_run else 'imported'} {count} transactions into portfolio {portfolio_id}")
