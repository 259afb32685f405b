"""GET/POST /api/watchlist and DELETE /api/watchlist/<symbol>, per user."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from models import Asset, WatchlistItem, db
from tests.support.portfolios import add_asset, add_user


def login(client: FlaskClient, name: str = "alice") -> None:
    assert client.post("/auth/login", json={"username": name, "password": "s3cret"}).status_code == 200


@pytest.fixture
def alice(client: FlaskClient) -> None:
    add_user("alice")
    add_user("bob")
    login(client)


def test_login_required(client: FlaskClient) -> None:
    assert client.get("/api/watchlist").status_code == 401
    assert client.post("/api/watchlist", json={"symbol": "AAPL"}).status_code == 401
    assert client.delete("/api/watchlist/AAPL").status_code == 401


def test_add_list_remove(client: FlaskClient, alice: None) -> None:
    add_asset("AAPL", "USD", "150.25", "148.00")
    db.session.commit()
    added = client.post("/api/watchlist", json={"symbol": " aapl "})
    assert added.status_code == 201
    item = added.json["item"]
    assert (item["symbol"], item["quote"]["price"], item["quote"]["channel"]) == ("AAPL", 150.25, "asset:AAPL")
    # A symbol nobody tracked yet becomes an asset (the feed picks it up); no quote until then.
    fresh = client.post("/api/watchlist", json={"symbol": "EURUSD=X"})
    assert fresh.status_code == 201 and fresh.json["item"]["quote"] is None
    assert db.session.scalar(select(Asset.currency).where(Asset.symbol == "EURUSD=X")) == "USD"
    again = client.post("/api/watchlist", json={"symbol": "AAPL"})
    assert again.status_code == 200 and again.json["item"]["symbol"] == "AAPL"
    listed = client.get("/api/watchlist").json
    assert [i["symbol"] for i in listed["items"]] == ["AAPL", "EURUSD=X"]
    assert listed["items"][0]["added_at"].endswith("Z")
    login(client, "bob")
    assert client.get("/api/watchlist").json["items"] == []
    assert client.delete("/api/watchlist/AAPL").status_code == 404  # bob never watched it
    login(client, "alice")
    assert client.delete("/api/watchlist/aapl").status_code == 204
    assert client.delete("/api/watchlist/AAPL").status_code == 404
    assert [i["symbol"] for i in client.get("/api/watchlist").json["items"]] == ["EURUSD=X"]
    assert db.session.scalar(select(func.count()).select_from(Asset).where(Asset.symbol == "AAPL")) == 1


@pytest.mark.parametrize("body", [{"symbol": "not a symbol"}, {"symbol": 5}, {"symbol": ""}, {"symbol": "A" * 30},
                                  {"ticker": "AAPL"}, ["AAPL"], None])
def test_bad_symbols_are_400(client: FlaskClient, alice: None, body: object) -> None:
    response = client.post("/api/watchlist", json=body) if body is not None else client.post("/api/watchlist")
    assert response.status_code == 400 and "error" in response.json
    assert db.session.scalar(select(func.count()).select_from(WatchlistItem)) == 0


def test_bad_symbol_in_delete_is_400(client: FlaskClient, alice: None) -> None:
    assert client.delete("/api/watchlist/bad%20symbol").status_code == 400


def test_watchlist_size_is_limited(client: FlaskClient, alice: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.api.watchlist.MAX_WATCHLIST_ITEMS", 2)
    assert [client.post("/api/watchlist", json={"symbol": s}).status_code for s in ("A", "B", "C")] == [201, 201, 409]
    assert client.post("/api/watchlist", json={"symbol": "A"}).status_code == 200  # already there: fine
