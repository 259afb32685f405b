"""PortfolioTracker and revalue_for_symbols(): hand-computed updates, storing, publishing after commit.

The stored portfolio is tests/support/portfolios.seed_mixed: AAPL 1502.50 + SAP 2651.00 +
VOD.L 904.25 = 5057.75 USD, previous close 5040.75 (daily +17.00).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event, func, select

from app.config import normalize_database_url
from infra.bus import Listener, get_bus
from infra.settings import update_settings
from models import Asset, Portfolio, PortfolioValue, Position, db
from protocol.channels import portfolio_channel, user_channel
from tasks.portfolio_tracker import PortfolioTracker, fx_symbols_for_tracked_portfolios, revalue_for_symbols
from tests.conftest import make_app
from tests.support.portfolios import NOW, D, add_user, seed_many, seed_mixed, set_price
from tests.support.services import wait_for


def receive(listener: Listener, timeout: float = 10) -> dict[str, Any]:
    """The next message on `listener`, decoded (fails after `timeout`)."""
    box: list[Any] = []
    wait_for(lambda: box.append(listener.get(0.1)) or box[-1], timeout=timeout, interval=0, message="a bus message")
    return {"channel": box[-1].channel, **json.loads(box[-1].data)}


def marker(listener: Listener, channel: str, name: str) -> dict[str, Any]:
    """Publish a marker and return the first message received: proves nothing was sent before it."""
    get_bus().publish(channel, json.dumps({"type": "marker", "data": {"name": name}}))
    return receive(listener)


def stored(portfolio_id: int) -> tuple[int, int]:
    """(seq, number of snapshots) as committed."""
    db.session.expire_all()
    seq = db.session.scalar(select(Portfolio.seq).where(Portfolio.id == portfolio_id))
    count = db.session.scalar(select(func.count()).select_from(PortfolioValue)
                              .where(PortfolioValue.portfolio_id == portfolio_id))
    return int(seq or 0), int(count or 0)


# --- The reference API (valuing only) on SQLite -------------------------------------------------


def test_update_portfolio_values_with_given_prices(app: Flask) -> None:
    portfolio = seed_mixed(add_user())
    tracker = PortfolioTracker()
    tracker.start_tracking_portfolio(portfolio)
    assert tracker.tracked == {portfolio.id}
    result = tracker.update_portfolio_values(portfolio, {"AAPL": D("151.00")}, now=NOW)
    # AAPL 10 x 151 = 1510.00: total 5065.25; daily 5065.25 - 5040.75 = 24.50 (0.486% -> 0.49)
    assert (result["total_value"], result["daily_change"], result["daily_change_percent"]) == (
        D("5065.25"), D("24.50"), D("0.49"))
    assert result["value_changed"] is True  # no snapshot stored yet
    assert [p["symbol"] for p in result["positions_updated"]] == ["AAPL"]
    assert len(result["positions"]) == 3
    # An FX price overrides the stored FX quote: SAP 2410.00 EUR x 1.20 = 2892.00 USD.
    fx = tracker.update_portfolio_values(portfolio.id, {"EURUSD=X": D("1.20")}, now=NOW)
    assert fx["total_value"] == D("1502.50") + D("2892.00") + D("904.25")
    assert [p["symbol"] for p in fx["positions_updated"]] == ["SAP"]
    assert stored(portfolio.id) == (0, 0)  # the facade stores nothing


def test_update_position_value(app: Flask) -> None:
    portfolio = seed_mixed(add_user())
    aapl = next(p for p in portfolio.positions if p.asset.symbol == "AAPL")
    result = PortfolioTracker().update_position_value(aapl, new_price=D("153.00"), now=NOW)
    # 10 x 153 = 1530.00; daily 1530 - 1480 = 50.00 (3.38%); return 1530 - 1400 = 130.00 (9.29%)
    assert (result["current_price"], result["current_value"], result["daily_change"]) == (
        D("153.00"), D("1530.00"), D("50.00"))
    assert (result["total_return"], result["total_return_percent"]) == (D("130.00"), D("9.29"))
    assert result["significant_change"] is True  # never published: 3.38% daily move > 1%
    assert result["portfolio_id"] == portfolio.id
    aapl.last_published_value = D("1520.00")
    db.session.commit()
    assert PortfolioTracker().update_position_value(aapl, D("153.00"), NOW)["significant_change"] is False
    update_settings(app, portfolio_significant_change_percent=0)
    assert PortfolioTracker().update_position_value(aapl, D("153.00"), NOW)["significant_change"] is True


def test_fx_symbols_for_tracked_portfolios(app: Flask) -> None:
    seed_mixed(add_user())
    assert fx_symbols_for_tracked_portfolios() == {"EURUSD=X", "GBPUSD=X"}


# --- revalue_for_symbols on SQLite with the in-process bus --------------------------------------


def test_revalue_stores_and_skips_when_nothing_changed(app: Flask) -> None:
    user = add_user()
    portfolio = seed_mixed(user)
    listener = get_bus().listener()
    listener.subscribe(portfolio_channel(portfolio.id), user_channel(user.id))
    [first] = revalue_for_symbols(["aapl"], now=NOW)
    message = receive(listener)
    assert message["type"] == "portfolio_update" and message["data"]["seq"] == 1 == first["seq"]
    assert message["data"]["total_value"] == 5057.75
    # First valuation: AAPL's daily move (1.52%) is significant; SAP's and VOD.L's are not.
    position = receive(listener)
    assert (position["type"], position["channel"], position["data"]["symbol"]) == (
        "position_update", user_channel(user.id), "AAPL")
    assert stored(portfolio.id) == (1, 1)
    published = dict(db.session.execute(select(Position.id, Position.last_published_value)).tuples().all())
    assert sorted(published.values()) == [D("904.25"), D("1502.50"), D("2651.00")]  # baselines
    assert revalue_for_symbols(["AAPL"], now=NOW) == []  # nothing moved: nothing stored or sent
    assert stored(portfolio.id) == (1, 1)
    assert marker(listener, portfolio_channel(portfolio.id), "end")["type"] == "marker"


@pytest.mark.parametrize(("portfolios", "per_portfolio"), [(2, 3), (100, 10)])
def test_revalue_query_count_is_bounded(app: Flask, portfolios: int, per_portfolio: int) -> None:
    seed_many(add_user(), portfolios, per_portfolio)
    db.session.expire_all()
    statements: list[str] = []
    record = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        updates = revalue_for_symbols(["S0000"], now=NOW)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(updates) == portfolios
    assert sum(len(u["positions"]) for u in updates) == portfolios * per_portfolio  # 6, then 1,000
    # find+lock, lock (again: a no-op), load, today's trades, last snapshots, FX; returns of past days
    # (once a day: savepoint, day-end values, flows, first trades, cache them, release); savepoint,
    # insert snapshots, bump seq, last published values, release
    assert 1 <= len(statements) <= 17, statements


# --- End to end on real PostgreSQL and Redis ------------------------------------------------------


@pytest.fixture
def live_app(pg_committed_url: str, redis_server_url: str, redis_prefix: str) -> Iterator[Flask]:
    """Committed PostgreSQL and a RedisBus, as in a worker."""
    application = make_app({"DATABASE_URL": pg_committed_url, "REDIS_URL": redis_server_url,
                            "REDIS_KEY_PREFIX": redis_prefix})
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
        get_bus().close()


@pytest.fixture
def publishes(live_app: Flask, pg_committed_url: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every publish, with portfolios.seq as another connection sees it at that moment."""
    bus = get_bus()
    real_publish = bus.publish
    observer = sa.create_engine(normalize_database_url(pg_committed_url))
    seen: list[tuple[str, int]] = []

    def spy(channel: str, data: str) -> int:
        message = json.loads(data)
        if message["type"] in ("portfolio_update", "position_update"):
            with observer.connect() as connection:
                seq = connection.scalar(sa.text("SELECT seq FROM portfolios WHERE id = :id"),
                                        {"id": message["data"]["portfolio_id"]})
            seen.append((message["type"], seq))
        return real_publish(channel, data)

    def spy_many(messages: list[tuple[str, str]]) -> int:
        return sum(spy(channel, data) for channel, data in messages)

    monkeypatch.setattr(bus, "publish", spy)
    monkeypatch.setattr(bus, "publish_many", spy_many)
    yield seen
    observer.dispose()


def test_stored_price_change_publishes_portfolio_update(live_app: Flask, publishes: list[tuple[str, int]]) -> None:
    user = add_user()
    portfolio = seed_mixed(user)
    listener = get_bus().listener()
    listener.subscribe(portfolio_channel(portfolio.id), user_channel(user.id))
    assert marker(listener, portfolio_channel(portfolio.id), "ready")["type"] == "marker"  # subscribed
    revalue_for_symbols(["AAPL"], now=NOW)  # the first valuation: baselines at 5057.75
    assert [receive(listener)["type"] for _ in range(2)] == ["portfolio_update", "position_update"]

    set_price("AAPL", "151.00")  # 1510.00: +0.50% against the published 1502.50, not significant
    revalue_for_symbols(["AAPL"], now=NOW)
    update = receive(listener)
    assert update["type"] == "portfolio_update" and update["channel"] == f"portfolio:{portfolio.id}"
    data = update["data"]
    # total 1510.00 + 2651.00 + 904.25 = 5065.25; daily 5065.25 - 5040.75 = 24.50 (0.486% -> 0.49)
    assert (data["total_value"], data["daily_change"], data["daily_change_percent"]) == (5065.25, 24.5, 0.49)
    assert (data["seq"], data["value_changed"], data["stale_share_percent"]) == (2, True, 0)
    assert [p["symbol"] for p in data["positions_updated"]] == ["AAPL"]
    assert data["positions_updated"][0]["current_value"] == 1510.0
    assert data["as_of"] == "2024-01-15T15:30:00Z" and isinstance(update["published_at"], float)
    assert marker(listener, user_channel(user.id), "no position update")["type"] == "marker"
    assert stored(portfolio.id) == (2, 1)  # the same minute: the newest point replaced the first
    snapshot = db.session.scalars(select(PortfolioValue).order_by(PortfolioValue.id.desc())).first()
    assert snapshot is not None and (snapshot.total_value, snapshot.daily_change) == (D("5065.25"), D("24.50"))

    set_price("AAPL", "153.00")  # 1530.00: +1.83% against 1502.50, significant
    revalue_for_symbols(["AAPL"], now=NOW)
    assert receive(listener)["data"]["total_value"] == 5085.25  # 1530.00 + 2651.00 + 904.25
    position = receive(listener)
    assert (position["type"], position["channel"]) == ("position_update", f"user:{user.id}")
    assert (position["data"]["symbol"], position["data"]["current_value"], position["data"]["daily_change"]) == (
        "AAPL", 1530.0, 50.0)
    assert (position["data"]["significant_change"], position["data"]["seq"]) == (True, 3)
    # Each message left only after its seq was committed (seen from another connection).
    assert publishes == [("portfolio_update", 1), ("position_update", 1), ("portfolio_update", 2),
                         ("portfolio_update", 3), ("position_update", 3)]


def test_fx_change_revalues_and_failed_commit_publishes_nothing(
    live_app: Flask, publishes: list[tuple[str, int]]
) -> None:
    user = add_user()
    portfolio = seed_mixed(user)
    revalue_for_symbols(["AAPL"], now=NOW)  # baselines: SAP published at 2651.00
    listener = get_bus().listener()
    listener.subscribe(portfolio_channel(portfolio.id), user_channel(user.id))
    assert marker(listener, portfolio_channel(portfolio.id), "ready")["type"] == "marker"

    set_price("EURUSD=X", "1.20")
    session = db.session()

    def fail(_: Any) -> None:
        raise RuntimeError("commit refused")

    event.listen(session, "before_commit", fail)
    with pytest.raises(RuntimeError, match="commit refused"):
        revalue_for_symbols(["EURUSD=X"], now=NOW)
    event.remove(session, "before_commit", fail)
    assert marker(listener, portfolio_channel(portfolio.id), "nothing sent")["type"] == "marker"
    assert stored(portfolio.id) == (1, 1)  # rolled back

    revalue_for_symbols(["EURUSD=X"], now=NOW)
    data = receive(listener)["data"]
    # SAP 2410.00 EUR x 1.20 = 2892.00 USD; its previous close at the previous FX close: 2420 x 1.10 = 2662.00
    # total 1502.50 + 2892.00 + 904.25 = 5298.75; prev 1480 + 2662 + 898.75 = 5040.75; daily 258.00 (5.12%)
    assert (data["total_value"], data["daily_change"], data["daily_change_percent"]) == (5298.75, 258.0, 5.12)
    assert ([p["symbol"] for p in data["positions_updated"]], data["seq"]) == (["SAP"], 2)
    position = receive(listener)  # 2892.00 against the published 2651.00: +9.09%
    assert (position["type"], position["data"]["symbol"], position["data"]["value_in_base"]) == (
        "position_update", "SAP", 2892.0)
    # The first revaluation had no listener yet: stored (seq 1), nothing built or sent.
    assert [kind for kind, _ in publishes] == ["portfolio_update", "position_update"]


def test_updates_nobody_listens_to_are_stored_but_not_built_or_sent(live_app: Flask) -> None:
    watched_user, unwatched_user = add_user("watched"), add_user("unwatched")
    watched = seed_mixed(watched_user)
    aapl = db.session.scalar(select(Asset).where(Asset.symbol == "AAPL"))
    assert aapl is not None
    unwatched = Portfolio(owner=unwatched_user, name="Other", base_currency="USD")
    db.session.add(unwatched)
    db.session.flush()
    db.session.add(Position(portfolio_id=unwatched.id, asset_id=aapl.id, quantity=D(5), cost_basis=D(700)))
    db.session.commit()
    listener = get_bus().listener()
    listener.subscribe(portfolio_channel(watched.id))  # a web process with a socket on one portfolio only
    assert marker(listener, portfolio_channel(watched.id), "ready")["type"] == "marker"

    updates = revalue_for_symbols(["AAPL"], now=NOW)

    assert [data["portfolio_id"] for data in updates] == [watched.id]
    assert receive(listener)["data"]["portfolio_id"] == watched.id
    assert stored(watched.id) == (1, 1) and stored(unwatched.id) == (1, 1)  # both valued and stored
    listener.close()
