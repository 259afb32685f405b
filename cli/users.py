"""`flask users ...` and `flask tokens ...`."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from models import ApiToken, User, db

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens for non-browser clients.")


@users_cli.command("create")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(name: str, password: str) -> None:
    """Create user NAME."""
    if db.session.scalar(select(User).where(User.username == name)):
        raise click.ClickException(f"user {name!r} already exists")
    if not password:
        raise click.BadParameter("must not be empty", param_hint="--password")
    user = User(username=name)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created user {name} (id {user.id})")


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
