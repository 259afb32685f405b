"""`flask users create`, `flask tokens create`, `flask demo seed`."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from cli import register_cli
from models import ApiToken, Portfolio, Position, Transaction, User, WatchlistItem, db


def runner(app: Flask):  # type: ignore[no-untyped-def]
    register_cli(app)
    return app.test_cli_runner()


def test_users_create_and_duplicate(app: Flask) -> None:
    cli = runner(app)
    result = cli.invoke(args=["users", "create", "carol", "--password", "pw1"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "carol"))
    assert user is not None and user.check_password("pw1")
    again = cli.invoke(args=["users", "create", "carol", "--password", "pw2"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_tokens_create_prints_token_alone_on_last_line(app: Flask) -> None:
    cli = runner(app)
    cli.invoke(args=["users", "create", "dave", "--password", "pw"])
    result = cli.invoke(args=["tokens", "create", "dave"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("pw_") and " " not in token
    assert db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash_token(token)))
    assert cli.invoke(args=["tokens", "create", "nobody"]).exit_code == 1


def test_demo_seed_is_idempotent(app: Flask) -> None:
    cli = runner(app)
    for _ in range(2):
        assert cli.invoke(args=["demo", "seed"]).exit_code == 0
    assert db.session.scalar(select(func.count(User.id))) == 1
    portfolio = db.session.scalar(select(Portfolio))
    assert portfolio is not None and portfolio.name == "Growth Portfolio"
    symbols = sorted(position.asset.symbol for position in db.session.scalars(select(Position)))
    assert symbols == ["AAPL", "AMZN", "GOOGL", "MSFT", "TSLA"]
    # In the ledger, once: a transfer in per position at its cost (7500.00 / 50 = 150 for AAPL).
    kinds = db.session.execute(select(Transaction.kind, Transaction.price).order_by(Transaction.id)).all()
    assert len(kinds) == 5 and kinds[0] == ("transfer_in", 150)
    demo = db.session.scalar(select(User))
    assert demo is not None and demo.check_password("demo")
    watched = sorted(item.asset.symbol for item in db.session.scalars(select(WatchlistItem)))
    assert watched == ["AAPL", "NFLX", "NVDA"]


def test_logout_everywhere_and_set_password_bump_the_session_version(app: Flask) -> None:
    cli = runner(app)
    cli.invoke(args=["users", "create", "erin", "--password", "pw"])
    user = db.session.scalar(select(User).where(User.username == "erin"))
    assert user is not None and user.session_version == 0
    assert cli.invoke(args=["users", "logout-everywhere", "erin"]).exit_code == 0
    db.session.refresh(user)
    assert user.session_version == 1
    assert cli.invoke(args=["users", "set-password", "erin", "--password", "pw2"]).exit_code == 0
    db.session.refresh(user)
    assert user.session_version == 2 and user.check_password("pw2")
    missing = cli.invoke(args=["users", "logout-everywhere", "nobody"])
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output


def test_tokens_list_and_revoke(app: Flask) -> None:
    cli = runner(app)
    cli.invoke(args=["users", "create", "fay", "--password", "pw"])
    cli.invoke(args=["tokens", "create", "fay", "--name", "laptop"])
    listed = cli.invoke(args=["tokens", "list"])
    assert listed.exit_code == 0 and "\tfay\tlaptop\t" in listed.output
    token_id = listed.output.split("\t", 1)[0]
    assert "pw_" not in listed.output  # only hashes are stored; nothing secret is shown
    revoked = cli.invoke(args=["tokens", "revoke", token_id])
    assert revoked.exit_code == 0, revoked.output
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert cli.invoke(args=["tokens", "list"]).output.strip() == "no tokens"
    assert cli.invoke(args=["tokens", "revoke", token_id]).exit_code == 1
    assert cli.invoke(args=["tokens", "revoke", "99999999999999999999"]).exit_code == 2


def test_users_create_without_password_or_terminal_says_how(app: Flask) -> None:
    result = runner(app).invoke(args=["users", "create", "erin"], input="")
    assert result.exit_code == 2
    assert "no terminal to ask for the password: pass it as --password PW" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "erin")) is None
