"""Flask CLI commands, composed onto the app by wsgi.py."""

from __future__ import annotations

from flask import Flask

from cli.demo import demo_cli
from cli.feed import feed_cli, prices_cli
from cli.history import history_cli
from cli.ledger import portfolios_cli, transactions_cli
from cli.market import assets_cli
from cli.users import tokens_cli, users_cli
from cli.ws_monitor import ws_cli


def register_cli(app: Flask) -> None:
    """Attach every command group to `app`."""
    for group in (users_cli, tokens_cli, demo_cli, feed_cli, prices_cli, history_cli, ws_cli, assets_cli,
                  portfolios_cli, transactions_cli):
        app.cli.add_command(group)
