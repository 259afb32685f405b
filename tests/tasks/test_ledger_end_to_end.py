"""The ledger end to end: REST on PostgreSQL, the Redis bus, a real Celery worker running feed cycles.

What a dashboard subscribed to `portfolio:<id>` receives is read from the same Redis channel its
socket's relay reads.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from flask.testing import FlaskClient

from infra.bus import Listener
from models import User, db, utcnow
from protocol.channels import portfolio_channel
from protocol.feed_control import TASK_RUN_CYCLE
from tests.support.services import wait_for
from tests.tasks.celery_harness import FeedHarness

pytestmark = pytest.mark.integration


def _login(feed: FeedHarness) -> FlaskClient:
    with feed.db():
        user = User(username="erin")
        user.set_password("pw-erin-1")
        db.session.add(user)
        db.session.commit()
        db.session.remove()
    client = feed.app.test_client()
    assert client.post("/auth/login", json={"username": "erin", "password": "pw-erin-1"}).status_code == 200
    return client


def _next_update(listener: Listener, wanted: Any, timeout: float = 60) -> dict[str, Any]:
    """The first portfolio_update whose data satisfies `wanted`."""
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        message = listener.get(timeout=0.2)
        if message is not None:
            payload = json.loads(message.data)
            if payload["type"] == "portfolio_update" and wanted(payload["data"]):
                found.append(payload["data"])
        return bool(found)

    wait_for(arrived, timeout=timeout, interval=0, message="a matching portfolio_update")
    return found[0]


def test_buy_shows_within_a_cycle_sell_realises_and_twr_matches(feed: FeedHarness) -> None:
    client = _login(feed)
    pid = client.post("/api/portfolios", json={"name": "E2E", "base_currency": "USD"}).json["id"]
    listener = feed.listen(portfolio_channel(pid))
    now = utcnow().replace(microsecond=0).isoformat()
    post = lambda body: client.post(f"/api/portfolios/{pid}/transactions", json={**body, "executed_at": now})  # noqa: E731
    assert post({"type": "deposit", "price": "2000"}).status_code == 201
    assert post({"type": "buy", "symbol": "MSFT", "quantity": "10", "price": "100", "fees": "0",
                 "currency": "USD"}).status_code == 201
    # Published at once by the web process: the position is there before any price is known (stale).
    first = _next_update(listener, lambda d: [p["symbol"] for p in d["positions"]] == ["MSFT"])
    assert first["positions"][0]["stale_reason"] == "no_price"

    feed.start_worker("w1", concurrency=1)
    feed.send(TASK_RUN_CYCLE)  # the feed now tracks MSFT because a position holds it
    priced = _next_update(listener, lambda d: d["positions"] and not d["positions"][0]["stale"])
    price = Decimal(str(priced["positions"][0]["current_price"]))
    assert Decimal(str(priced["positions"][0]["current_value"])) == (10 * price).quantize(Decimal("0.01"))
    assert Decimal(str(priced["total_value"])) == (10 * price + 1000).quantize(Decimal("0.01"))  # cash 2000 - 1000

    assert post({"type": "sell", "symbol": "MSFT", "quantity": "4", "price": "130", "fees": "0"}).status_code == 201
    sold = _next_update(listener, lambda d: d["positions"] and d["positions"][0]["quantity"] == 6)
    assert sold["realised_gain"] == 120  # 4 x (130 - 100)

    body = client.get(f"/api/portfolios/{pid}/performance?period=ALL").json
    # Reference: one day, 2000 deposited, nothing before: TWR = end value / 2000 - 1.
    end = Fraction(Decimal(str(body["end_value"])))
    expected = round((end / 2000 - 1) * 100, 2)  # a Fraction, rounded half to even like the product
    assert Fraction(Decimal(str(body["twr_percent"]))) == expected
    assert body["net_flows"] == 2000
