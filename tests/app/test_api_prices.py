"""POST /api/prices/refresh (handed to the FeedControl) and GET /api/prices/<symbol>/history."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app.api import history
from infra.feed_status import get_feed_status
from infra.symbol_requests import LOOKUP_EXTENSION
from models import Asset, PriceHistory, db
from protocol.feed_control import FEED_CONTROL_EXTENSION
from tests.app.api_helpers import login, redis_backed_app


class FakeRefresh:
    """Stands in for the app's FeedControl."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def request_symbols(self, symbols: Iterable[str]) -> int:
        return len(list(symbols))

    def refresh(self, symbols: Sequence[str]) -> dict[str, Any]:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.calls.append(list(symbols))
        return {"mode": "celery", "symbols": symbols, "batches": 1, "task_ids": ["t-1"]}


UNKNOWN = {"NOPE", "FAKE1"}


@pytest.fixture
def refresh(app: Flask) -> FakeRefresh:
    fake = FakeRefresh()
    app.extensions[FEED_CONTROL_EXTENSION] = fake
    # The providers know every symbol but these (tasks.wiring registers the real lookup).
    app.extensions[LOOKUP_EXTENSION] = lambda symbols: {s: s not in UNKNOWN for s in symbols}
    return fake


def test_refresh_requires_login(client: FlaskClient, refresh: FakeRefresh) -> None:
    response = client.post("/api/prices/refresh", json={"symbols": ["AAPL"]})
    assert response.status_code == 401
    assert refresh.calls == []


def test_refresh_enqueues_normalized_symbols(client: FlaskClient, refresh: FakeRefresh) -> None:
    login(client)
    response = client.post("/api/prices/refresh", json={"symbols": [" aapl", "MSFT", "AAPL", "eurusd=x"]})
    assert response.status_code == 202
    assert refresh.calls == [["AAPL", "MSFT", "EURUSD=X"]]
    assert response.json == {"mode": "celery", "symbols": ["AAPL", "MSFT", "EURUSD=X"], "batches": 1,
                             "task_ids": ["t-1"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"symbols": ["AAPL", "BAD$"]}, "invalid symbol: 'BAD$'"),
        ({"symbols": ["AAPL", 7]}, "invalid symbol: 7 is not a string"),
        ({"symbols": [1, 2]}, "invalid symbol: 1 is not a string"),
        ({"symbols": ["A" * 30]}, f"invalid symbol: '{'A' * 24}…' is longer than 20 characters"),
        ({"symbols": []}, "symbols must be a non-empty list"),
        ({"symbols": "AAPL"}, "symbols must be a non-empty list"),
        ({"symbols": [f"S{i}" for i in range(51)]}, "at most 50 symbols per request"),
        ({"symbol": "AAPL"}, 'expected a JSON object {"symbols": [...]}'),
        (["AAPL"], 'expected a JSON object {"symbols": [...]}'),
    ],
)
def test_refresh_rejects_bad_bodies(client: FlaskClient, refresh: FakeRefresh, body: object, message: str) -> None:
    login(client)
    response = client.post("/api/prices/refresh", json=body)
    assert response.status_code == 400
    assert response.json == {"error": message}
    assert refresh.calls == []


def test_refresh_accepts_exactly_fifty(client: FlaskClient, refresh: FakeRefresh) -> None:
    login(client)
    response = client.post("/api/prices/refresh", json={"symbols": [f"S{i}" for i in range(50)]})
    assert response.status_code == 202 and len(refresh.calls[0]) == 50


def test_refresh_of_made_up_symbols_fetches_nothing(client: FlaskClient, refresh: FakeRefresh) -> None:
    # Issue 16, item 2: a forced refresh is the same door as a socket subscribe: unknown symbols stay out.
    login(client)
    refused = client.post("/api/prices/refresh", json={"symbols": ["NOPE", "FAKE1"]})
    assert refused.status_code == 400 and refused.json["error"] == "unknown symbol: FAKE1, NOPE"
    assert refresh.calls == []
    partly = client.post("/api/prices/refresh", json={"symbols": ["AAPL", "NOPE"]})
    assert partly.status_code == 202 and refresh.calls == [["AAPL"]]
    assert partly.json["refused"] == ["unknown symbol: NOPE"]


def test_refresh_wants_json(client: FlaskClient, refresh: FakeRefresh) -> None:
    login(client)
    response = client.post("/api/prices/refresh", data={"symbols": "AAPL"})
    assert response.status_code == 415
    malformed = client.post("/api/prices/refresh", data="{", content_type="application/json")
    assert malformed.status_code == 400


def test_refresh_without_feed_is_503(client: FlaskClient) -> None:
    login(client)
    response = client.post("/api/prices/refresh", json={"symbols": ["AAPL"]})
    assert response.status_code == 503
    assert response.json == {"error": "price feed not attached"}


def test_refresh_failure_is_503(client: FlaskClient, app: Flask, refresh: FakeRefresh) -> None:
    refresh.fail = True
    login(client)
    response = client.post("/api/prices/refresh", json={"symbols": ["AAPL"]})
    assert response.status_code == 503
    assert response.json == {"error": "price refresh could not be scheduled"}


def add_history(symbol: str, ages_hours: list[float], start_price: str = "100.10") -> datetime:
    """History points `ages_hours` hours old, priced start_price + index; returns 'now'."""
    asset = Asset(symbol=symbol, name=symbol)
    db.session.add(asset)
    db.session.flush()
    now = datetime.now(UTC)
    for index, age in enumerate(ages_hours):
        db.session.add(PriceHistory(asset_id=asset.id, timestamp=now - timedelta(hours=age),
                                    price=Decimal(start_price) + index, volume=1000 + index, source="simulated"))
    db.session.commit()
    return now


def test_history_requires_login(client: FlaskClient) -> None:
    assert client.get("/api/prices/AAPL/history").status_code == 401


def test_history_oldest_first_within_days(client: FlaskClient) -> None:
    login(client)
    now = add_history("AAPL", [1, 100, 30, 24 * 8])  # the 8-day-old point is outside the default 7 days
    response = client.get("/api/prices/aapl/history")
    assert response.status_code == 200
    body = response.json
    assert (body["symbol"], body["days"], body["count"], body["downsampled"]) == ("AAPL", 7, 3, False)
    assert [point["price"] for point in body["history"]] == [101.1, 102.1, 100.1]
    first = body["history"][0]
    assert set(first) == {"timestamp", "price", "volume", "source"}
    assert first["volume"] == 1001 and first["source"] == "simulated"
    assert datetime.fromisoformat(first["timestamp"]) == now - timedelta(hours=100)
    longer = client.get("/api/prices/AAPL/history?days=9").json
    assert longer["count"] == 4 and longer["history"][0]["price"] == 103.1


def test_history_of_asset_without_points_is_empty(client: FlaskClient) -> None:
    login(client)
    add_history("MSFT", [])
    assert client.get("/api/prices/MSFT/history?days=1").json["history"] == []


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5", "", "²", "٣", "9" * 5000])
def test_history_rejects_bad_days(client: FlaskClient, days: str) -> None:
    login(client)
    add_history("AAPL", [1])
    response = client.get(f"/api/prices/AAPL/history?days={days}")
    assert response.status_code == 400
    assert response.json == {"error": "days must be a whole number from 1 to 365"}


def test_history_accepts_day_bounds(client: FlaskClient) -> None:
    login(client)
    add_history("AAPL", [1])
    assert client.get("/api/prices/AAPL/history?days=1").status_code == 200
    assert client.get("/api/prices/AAPL/history?days=365").status_code == 200


def test_history_unknown_and_invalid_symbols(client: FlaskClient) -> None:
    login(client)
    unknown = client.get("/api/prices/ZZZZ/history")
    assert unknown.status_code == 404 and unknown.json == {"error": "unknown symbol: ZZZZ"}
    invalid = client.get("/api/prices/BAD$/history")
    assert invalid.status_code == 400 and invalid.json == {"error": "invalid symbol: 'BAD$'"}


def test_history_keeps_exact_decimals(client: FlaskClient) -> None:
    login(client)
    add_history("BTC-USD", [1], start_price="64123.12345678")
    response = client.get("/api/prices/BTC-USD/history")
    assert '"price":64123.12345678' in response.get_data(as_text=True)


def test_long_history_is_thinned_keeping_both_ends(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_HISTORY_POINTS", 10)
    login(client)
    add_history("AAPL", [26 - index for index in range(26)])  # oldest first: prices 100.1 .. 125.1
    body = client.get("/api/prices/AAPL/history").json
    assert body["downsampled"] is True
    # Every third point (26 rows / 10 -> step 3: indexes 0, 3 .. 24) plus the newest (25).
    expected = [float(Decimal("100.10") + index) for index in [*range(0, 25, 3), 25]]
    assert [point["price"] for point in body["history"]] == expected


@pytest.mark.integration
def test_history_thinning_on_postgresql(pg_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_HISTORY_POINTS", 4)
    client = pg_app.test_client()
    login(client)
    add_history("AAPL", [10 - index for index in range(10)], start_price="189.12345678")
    body = client.get("/api/prices/AAPL/history?days=1").json
    # 10 rows / 4 -> step 3: indexes 0, 3, 6, 9 (9 is also the newest).
    assert [point["price"] for point in body["history"]] == [
        float(Decimal("189.12345678") + index) for index in (0, 3, 6, 9)
    ]
    assert body["downsampled"] is True


@pytest.mark.integration
def test_refresh_through_the_real_celery_wiring(redis_server_url: str, redis_prefix: str) -> None:
    from tasks.celery_app import DEFAULT_QUEUE
    from tasks.wiring import attach_feed

    with redis_backed_app("sqlite://", redis_server_url, redis_prefix) as application:
        attach_feed(application)
        client = application.test_client()
        login(client)
        response = client.post("/api/prices/refresh", json={"symbols": ["aapl", "MSFT"]})
        assert response.status_code == 202, response.json
        body = response.json
        assert (body["mode"], body["symbols"], body["batches"], len(body["task_ids"])) == (
            "celery", ["AAPL", "MSFT"], 1, 1)
        # The batch waits in this deployment's queue for a worker; the feed now tracks both symbols.
        broker = redis.Redis.from_url(redis_server_url)
        assert broker.llen(f"{redis_prefix}:celery:{DEFAULT_QUEUE}") == 1
        broker.close()
        assert get_feed_status().requested_symbols() == ["AAPL", "MSFT"]
