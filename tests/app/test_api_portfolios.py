"""GET /api/portfolios, /api/portfolios/<id> and /api/portfolios/<id>/history for the owner only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from models import Portfolio, PortfolioValue, db, utcnow
from tests.support.portfolios import D, add_user, seed_mixed

NOT_FOUND = {"error": "portfolio not found"}


def login(client: FlaskClient, name: str = "alice") -> None:
    response = client.post("/auth/login", json={"username": name, "password": "s3cret"})
    assert response.status_code == 200


@pytest.fixture
def portfolio(client: FlaskClient) -> Portfolio:
    """Alice's mixed portfolio (5057.75 USD), and bob with nothing; alice logged in."""
    owned = seed_mixed(add_user("alice"))
    add_user("bob")
    login(client)
    return owned


@pytest.mark.parametrize("path", ["/api/portfolios", "/api/portfolios/1", "/api/portfolios/1/history"])
def test_login_required(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401 and response.json == {"error": "authentication required"}


def test_list_has_valuation_summaries(client: FlaskClient, portfolio: Portfolio) -> None:
    response = client.get("/api/portfolios")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    [item] = response.json["portfolios"]
    assert (item["portfolio_id"], item["name"], item["base_currency"]) == (portfolio.id, "Growth", "USD")
    # Exact decimals on the wire: 1502.50 + 2651.00 + 904.25; daily +17.00 (0.34%)
    assert (item["total_value"], item["daily_change"], item["daily_change_percent"]) == (5057.75, 17.0, 0.34)
    assert (item["total_return"], item["positions"], item["seq"], item["stale_share_percent"]) == (-92.25, 3, 0, 0)
    login(client, "bob")
    assert client.get("/api/portfolios").json == {"portfolios": []}


def test_detail_is_the_current_valuation(client: FlaskClient, portfolio: Portfolio) -> None:
    data = client.get(f"/api/portfolios/{portfolio.id}").json
    assert (data["portfolio_id"], data["total_value"], data["channel"]) == (
        portfolio.id, 5057.75, f"portfolio:{portfolio.id}")
    assert [p["symbol"] for p in data["positions_updated"]] == ["AAPL", "SAP", "VOD.L"]
    assert data["positions"][1]["value_in_base"] == 2651.0 and data["positions"][1]["currency"] == "EUR"


def test_other_users_and_missing_portfolios_are_the_same_404(client: FlaskClient, portfolio: Portfolio) -> None:
    login(client, "bob")
    for path in (f"/api/portfolios/{portfolio.id}", f"/api/portfolios/{portfolio.id}/history",
                 "/api/portfolios/999999", "/api/portfolios/999999/history?days=5"):
        response = client.get(path)
        assert (response.status_code, response.json) == (404, NOT_FOUND), path


def test_history_window_and_order(client: FlaskClient, portfolio: Portfolio) -> None:
    now = utcnow()
    for age_days, total in ((40, "1"), (10, "2"), (2, "3"), (0, "4")):
        db.session.add(PortfolioValue(portfolio_id=portfolio.id, timestamp=now - timedelta(days=age_days, minutes=1),
                                      total_value=D(total), daily_change=D("0.5"), stale_value=D(0)))
    db.session.commit()
    body = client.get(f"/api/portfolios/{portfolio.id}/history?days=7").json
    assert (body["portfolio_id"], body["days"], body["thinned"]) == (portfolio.id, 7, False)
    assert [s["total_value"] for s in body["snapshots"]] == [3, 4]
    assert body["snapshots"][0]["timestamp"].endswith("Z") and body["snapshots"][0]["daily_change"] == 0.5
    default = client.get(f"/api/portfolios/{portfolio.id}/history").json
    assert (default["days"], [s["total_value"] for s in default["snapshots"]]) == (30, [2, 3, 4])
    assert len(client.get(f"/api/portfolios/{portfolio.id}/history?days=365").json["snapshots"]) == 4


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5", "", "99999999999"])
def test_history_days_is_validated(client: FlaskClient, portfolio: Portfolio, days: str) -> None:
    response = client.get(f"/api/portfolios/{portfolio.id}/history?days={days}")
    assert response.status_code == 400
    assert response.json == {"error": "days must be a whole number from 1 to 365"}


def test_long_history_is_thinned_keeping_the_newest(client: FlaskClient, portfolio: Portfolio,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.api.history.MAX_HISTORY_POINTS", 2)
    now = utcnow()
    for minutes in range(5, 0, -1):  # totals 1..5, oldest first
        db.session.add(PortfolioValue(portfolio_id=portfolio.id, timestamp=now - timedelta(minutes=minutes),
                                      total_value=D(6 - minutes), daily_change=D(0)))
    db.session.commit()
    body = client.get(f"/api/portfolios/{portfolio.id}/history?days=1").json
    # 5 points, step ceil(5 / 2) = 3: the 1st and 4th, plus the newest
    assert (body["thinned"], [s["total_value"] for s in body["snapshots"]]) == (True, [1, 4, 5])
