"""Stored portfolio history at a bounded resolution: a point per minute (the newest), then a point per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from infra.settings import get_settings, update_settings
from models import Portfolio, PortfolioValue, Transaction, User, db
from models.history_resolution import compact_to_daily_closes, same_period, split_writes, store_points
from models.performance import performance
from models.portfolio_loading import last_snapshots

START = datetime(2026, 11, 27, 14, 30, 0, tzinfo=UTC)


@pytest.fixture(params=["app", "pg_app"])
def db_app(request: pytest.FixtureRequest) -> Flask:
    """Embedded SQLite and PostgreSQL: the day of a point is its UTC day on both."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def portfolio_id(db_app: Flask) -> int:
    user = User(username="ann")
    user.set_password("pw")
    portfolio = Portfolio(owner=user, name="main", base_currency="USD")
    db.session.add_all([user, portfolio])
    db.session.commit()
    return int(portfolio.id)


def row(pid: int, moment: datetime, value: str) -> dict[str, Any]:
    return {"portfolio_id": pid, "timestamp": moment, "total_value": Decimal(value), "daily_change": Decimal(0),
            "stale_value": Decimal(0)}


def revalue(pid: int, moment: datetime, value: str) -> tuple[int, int]:
    """What the revaluation does: store against the newest stored point at the app's resolution, commit."""
    counts = store_points([row(pid, moment, value)], last_snapshots([pid]),
                          get_settings().portfolio_history_resolution_seconds)
    db.session.commit()
    return counts


def points(pid: int) -> list[tuple[datetime, Decimal]]:
    db.session.expire_all()
    rows = db.session.execute(select(PortfolioValue.timestamp, PortfolioValue.total_value)
                              .where(PortfolioValue.portfolio_id == pid).order_by(PortfolioValue.timestamp)).all()
    return [(stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp, value) for stamp, value in rows]


def test_periods() -> None:
    assert same_period(START, START + timedelta(seconds=59), 60)
    assert not same_period(START + timedelta(seconds=59), START + timedelta(seconds=60), 60)
    assert not same_period(START, START, 0)  # 0: every change is its own point


@pytest.mark.parametrize("seconds", [7, 70, 3600, 90000])
def test_no_period_spans_midnight_so_a_day_keeps_its_close(seconds: int) -> None:
    midnight = datetime(2026, 12, 1, tzinfo=UTC)
    # Epoch-aligned 7 s periods ran from 23:59:56 to 00:00:03 that night: 00:00:01 overwrote the close.
    assert not same_period(midnight - timedelta(seconds=1), midnight + timedelta(seconds=1), seconds)
    last = midnight + timedelta(seconds=min(seconds, 86400) - 1)  # a period ends by the next midnight at the latest
    assert same_period(midnight, last, seconds)  # periods start at midnight
    assert not same_period(last, last + timedelta(seconds=1), seconds)


def test_split_writes_overwrites_only_the_newest_point_of_the_same_period() -> None:
    class Newest:
        def __init__(self, moment: datetime, ident: int | None) -> None:
            self.timestamp, self.id = moment, ident

    rows = [row(1, START + timedelta(seconds=30), "1"), row(2, START + timedelta(seconds=61), "2"),
            row(3, START, "3"), row(4, START, "4")]
    newest = {1: Newest(START, 10), 2: Newest(START, 20), 3: None, 4: Newest(START, None)}

    inserts, updates = split_writes(rows, newest, 60)

    assert [r["portfolio_id"] for r in inserts] == [2, 3, 4]
    assert updates == [{**rows[0], "id": 10}]
    assert split_writes(rows, newest, 0) == (rows, [])


def test_one_point_per_minute_and_it_is_the_newest(db_app: Flask, portfolio_id: int) -> None:
    ticks = [(0, "100"), (5, "101"), (55, "102"), (60, "103"), (65, "104"), (200, "105")]
    counts = [revalue(portfolio_id, START + timedelta(seconds=s), v) for s, v in ticks]

    assert counts == [(1, 0), (0, 1), (0, 1), (1, 0), (0, 1), (1, 0)]
    assert points(portfolio_id) == [(START + timedelta(seconds=55), Decimal("102")),
                                    (START + timedelta(seconds=65), Decimal("104")),
                                    (START + timedelta(seconds=200), Decimal("105"))]


def test_every_change_is_kept_with_resolution_zero(db_app: Flask, portfolio_id: int) -> None:
    update_settings(db_app, portfolio_history_resolution_seconds=0)
    for second in (0, 1, 2):
        revalue(portfolio_id, START + timedelta(seconds=second), str(100 + second))
    assert len(points(portfolio_id)) == 3


def test_old_intraday_points_become_one_close_per_day(db_app: Flask, portfolio_id: int) -> None:
    owner = db.session.get(Portfolio, portfolio_id).owner
    other = Portfolio(owner=owner, name="other", base_currency="USD")
    db.session.add(other)
    db.session.commit()
    for day in range(3):  # three trading days of minute points, for two portfolios
        for minute in range(0, 390, 60):
            moment = START + timedelta(days=day, minutes=minute)
            db.session.add(PortfolioValue(**row(portfolio_id, moment, str(day * 1000 + minute))))
            db.session.add(PortfolioValue(**row(other.id, moment, str(minute))))
    db.session.commit()
    cutoff = START + timedelta(days=2)  # days 0 and 1 are old; day 2 keeps its minutes

    assert compact_to_daily_closes(cutoff, dry_run=True) == 2 * 2 * 6
    assert compact_to_daily_closes(cutoff, chunk_rows=5) == 24

    kept = points(portfolio_id)
    closes = [START + timedelta(days=day, minutes=360) for day in (0, 1)]
    assert kept[:2] == [(closes[0], Decimal("360")), (closes[1], Decimal("1360"))]  # each day's newest point
    assert len(kept) == 2 + 7 and kept[-1] == (START + timedelta(days=2, minutes=360), Decimal("2360"))
    assert len(points(other.id)) == 9
    assert compact_to_daily_closes(cutoff) == 0  # idempotent


def test_twr_mwr_and_the_daily_chart_do_not_change_meaning(db_app: Flask, portfolio_id: int) -> None:
    """Every change stored vs. a point a minute compacted to daily closes: the same returns and day-end series."""
    owner = db.session.get(Portfolio, portfolio_id).owner
    coarse = Portfolio(owner=owner, name="coarse", base_currency="USD")
    db.session.add(coarse)
    db.session.commit()
    fine_id, coarse_id = portfolio_id, int(coarse.id)
    begin = START - timedelta(days=4)
    for pid in (fine_id, coarse_id):  # one deposit before the first value, one on the third day
        for at, amount in ((begin - timedelta(hours=1), "1000"), (begin + timedelta(days=2, hours=1), "500")):
            db.session.add(Transaction(portfolio_id=pid, kind="deposit", quantity=Decimal(1), price=Decimal(amount),
                                       currency="USD", fx_rate=Decimal(1), executed_at=at))
    db.session.commit()
    for day in range(4):  # four days of ticks every 25 s for 10 minutes; values drift and jump
        deposited = 1500 if day >= 2 else 1000
        for tick in range(24):
            moment = begin + timedelta(days=day, hours=2, seconds=25 * tick)
            value = str(deposited + 37 * day + (tick * 7919) % 53)
            for pid, seconds in ((fine_id, 0), (coarse_id, 60)):
                update_settings(db_app, portfolio_history_resolution_seconds=seconds)
                revalue(pid, moment, value)
    now, current = START, Decimal("1700")
    periods = ("1D", "1W", "1M", "ALL")
    every_change = {period: performance(fine_id, period, now, current, "USD") for period in periods}
    fine_points = dict(points(fine_id))
    assert compact_to_daily_closes(START - timedelta(days=1)) > 0  # days 0-2 become daily closes
    assert len(points(coarse_id)) < len(fine_points) // 4

    for period, truth in every_change.items():
        for pid in (fine_id, coarse_id):
            figures = performance(pid, period, now, current, "USD")
            assert (figures["twr_percent"], figures["mwr_percent"], figures["series"]) == (
                truth["twr_percent"], truth["mwr_percent"], truth["series"])
        assert truth["twr_percent"] is not None
    assert len(every_change["ALL"]["series"]) == 5  # four days' closes and now
    # What the coarse history keeps is a subset of the true values, each the newest of its minute or day.
    assert all(fine_points[moment] == value for moment, value in points(coarse_id))
