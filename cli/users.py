"""`flask users ...` and `flask tokens ...`."""

from __future__ import annotations

import contextlib
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.http_auth import announce_logout, end_all_sessions
from infra.bus import BusError, get_bus
from models import ApiToken, User, db
from protocol.bus import token_revoked_message
from protocol.channels import user_channel
from protocol.client import MAX_ID

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage API tokens for non-browser clients.")


def _user(name: str) -> User:
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        raise click.ClickException(f"no user {name!r}")
    return user


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


@users_cli.command("set-password")
@click.argument("name")
@click.option("--password", help="The new password; asked twice on a terminal when omitted.")
def set_password(name: str, password: str | None) -> None:
    """Change NAME's password; every session of NAME ends (cookies and browser sockets)."""
    user = _user(name)
    if password is None:
        password = _ask_password()
    if not password:
        raise click.BadParameter("must not be empty", param_hint="--password")
    user.set_password(password)  # bumps the session version
    db.session.commit()
    announce_logout(user.id)
    click.echo(f"password of {name} changed; every session ended")


@users_cli.command("logout-everywhere")
@click.argument("name")
def logout_everywhere(name: str) -> None:
    """End every session of NAME: old cookies stop working, open browser sockets close (4401)."""
    end_all_sessions(_user(name))
    click.echo(f"every session of {name} ended")

@tokens_cli.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="A label for the token.")
def create_token(username: str, name: str) -> None:
    """Create an API token for USERNAME; the token is printed alone on the last line."""
    user = _user(username)
    token, plain = ApiToken.issue(user, name)
    db.session.add(token)
    db.session.commit()
    click.echo(f"token {token.id} for {username} (shown once):")
    click.echo(plain)


@tokens_cli.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens.")
def list_tokens(username: str | None) -> None:
    """List tokens: id, user, label, created (the tokens themselves are not stored)."""
    query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if username is not None:
        query = query.where(User.id == _user(username).id)
    rows = db.session.execute(query).all()
    if not rows:
        click.echo("no tokens")
    for token, owner in rows:
        click.echo(f"{token.id}\t{owner}\t{token.name}\t{token.created_at.isoformat()}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
def revoke_token(token_id: int) -> None:
    """Delete token TOKEN_ID; its open sockets close at once (4401 "token revoked")."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"no token {token_id}")
    user_id, token_hash = token.user_id, token.token_hash
    db.session.delete(token)
    db.session.commit()
    with contextlib.suppress(BusError):  # sockets re-check on their next subscribe anyway
        get_bus().publish(user_channel(user_id), token_revoked_message(token_hash))
    click.echo(f"token {token_id} revoked")
