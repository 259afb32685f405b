"""`flask users ...` and `flask tokens ...`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from models import ApiToken, User, db

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens for non-browser clients.")


@users_cli.command("create")
@click.argument("name")
@click.option("--password", help="The password; asked twice on a terminal when omitted.")
def create_user(name: str, password: str | None) -> None:
    """Create user NAME."""
    if db.session.scalar(select(User).where(User.username == name)):
        raise click.ClickException(f"user {name!r} already exists")
    if password is None:
        password = _ask_password()
    if not password:
        raise click.BadParameter("must not be empty", param_hint="--password")
    user = User(username=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created user {name} (id {user.id})")


def _ask_password() -> str:
    """Prompt on a terminal; without one, say how to pass the password instead of aborting."""
    if not sys.stdin.isatty():
        raise click.UsageError('no terminal to ask for the password: pass it as --password PW '
                               '(e.g. --password "$(cat pw.txt)")')
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@tokens_cli.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="A label for the token.")
def create_token(username: str, name: str) -> None:
    """Create an API token for USERNAME; the token is printed alone on the last line."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    token, plain = ApiToken.issue(user, name)
    db.session.add(token)
    db.session.commit()
    click.echo(f"token {token.id} for {username} (shown once):")
    click.echo(plain)
