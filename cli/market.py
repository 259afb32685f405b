"""`flask prices sources SYMBOL` (which source would serve it, in what form, why) and `flask assets set-currency`."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from cli.feed import prices_cli
from models.base import db
from models.currency import is_currency_code
from models.market import Asset
from protocol.codes import ProtocolError
from protocol.symbols import normalize_symbol
from tasks import pipeline
from tasks.market_data.symbols import classify

assets_cli = AppGroup("assets", help="Assets: corrections by hand.")


def _symbol(raw: str) -> str:
    """The normalized symbol or a usage error (exit 2) naming it."""
    try:
        return normalize_symbol(raw)
    except ProtocolError as exc:
        raise click.BadParameter(exc.message, param_hint="SYMBOL") from None


@prices_cli.command("sources")
@click.argument("symbol")
def sources_command(symbol: str) -> None:
    """Which configured source would serve SYMBOL, in what form, and why the others would not."""
    canonical = _symbol(symbol)
    info = classify(canonical)
    where = f", exchange suffix .{info.suffix}" if info.suffix else ""
    click.echo(f"{canonical} ({info.kind}{where})")
    manager = pipeline.get_manager(current_app._get_current_object())  # type: ignore[attr-defined]
    stats = manager.source_stats()
    chosen: str | None = None
    for source in manager.sources:
        form, why = source.provider_symbol(canonical)
        state = stats[source.name]["state"]
        plan = source.capabilities.plan
        if form is None:
            line = f"cannot: {why}"
        else:
            line = f"asks for {form} ({why}, {plan} plan), {state}"
            if chosen is None and state in ("closed", "half_open"):
                chosen = f"{source.name} as {form}"
        click.echo(f"  {stats[source.name]['priority']}. {source.name:<14} {line}")
    for name, stat in stats.items():
        if not stat["configured"]:
            click.echo(f"  -  {name:<14} skipped: {stat['reason']}")
    if chosen is None:
        click.echo("No configured source can serve it now.")
        sys.exit(1)
    click.echo(f"Served by: {chosen}")


@assets_cli.command("set-currency")
@click.argument("symbol")
@click.argument("currency")
def set_currency_command(symbol: str, currency: str) -> None:
    """Set SYMBOL's currency to CURRENCY as written: 'GBp' (pence) is not 'GBP' (pounds)."""
    canonical = _symbol(symbol)
    code = currency.strip()
    if not is_currency_code(code):
        raise click.BadParameter(
            f"{currency!r} is not a currency code: use ISO 4217 (USD, GBP) or a minor unit (GBp, GBX, ZAc, ILA)",
            param_hint="CURRENCY",
        )
    asset = db.session.scalar(select(Asset).where(Asset.symbol == canonical))
    if asset is None:
        asset = Asset(symbol=canonical, name=canonical, currency=code)
        db.session.add(asset)
        before = "new asset"
    else:
        stated = f"stated by {asset.currency_source}" if asset.currency_source else "a default, never stated"
        before = f"was {asset.currency} ({stated})"
    asset.currency, asset.currency_source = code, "manual"
    db.session.commit()
    click.echo(f"{canonical}: currency {code} ({before}); quotes in another unit of it are converted, "
               "quotes in another currency are rejected.")
