"""POST/PATCH/DELETE /api/portfolios and their transactions: owner only, every bad field named, revalued at once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from infra.bus import get_bus
from models import Portfolio, PortfolioValue, PriceHistory, Transaction, db, utcnow
from protocol.channels import portfolio_channel
from tests.app.test_api_portfolios import login
from tests.support.portfolios import D, add_asset, add_user

DAY = (utcnow() - timedelta(days=3)).replace(microsecond=0)
WHEN = DAY.isoformat().replace("+00:00", "Z")


@pytest.fixture
def alice(client: FlaskClient) -> FlaskClient:
    """Alice logged in, bob exists; AAPL quoted 152 (previous close 150) and SAP in EUR at 120.50."""
    add_user("alice")
    add_user("bob")
    add_asset("AAPL", "USD", "152", "150")
    add_asset("SAP", "EUR", "120.50", "121")
    db.session.commit()
    login(client)
    return client


def _create(client: FlaskClient, **body: Any) -> int:
    response = client.post("/api/portfolios", json={"name": "Mine", "base_currency": "USD", **body})
    assert response.status_code == 201, response.json
    return int(response.json["id"])


def _buy(client: FlaskClient, pid: int, **fields: Any) -> Any:
    body = {"type": "buy", "symbol": "AAPL", "quantity": "10", "price": "140", "fees": "1", "executed_at": WHEN}
    return client.post(f"/api/portfolios/{pid}/transactions", json={**body, **fields})


def test_create_record_and_see_the_position(alice: FlaskClient) -> None:
    pid = _create(alice)
    listener = get_bus().listener()
    listener.subscribe(portfolio_channel(pid))
    response = _buy(alice, pid)
    assert response.status_code == 201 and response.json["transaction"]["fx_source"] == "same"
    message = json.loads(listener.get(5).data)  # published at once, not at the next feed cycle
    assert message["type"] == "portfolio_update" and message["data"]["total_value"] == 1520 - 1401
    data = alice.get(f"/api/portfolios/{pid}").json
    [position] = data["positions"]
    # 10 x 152 = 1520; cost 10 x 140 + 1 fee = 1401; cash -1401 (no deposit recorded)
    assert (position["symbol"], position["current_value"], position["cost_basis"]) == ("AAPL", 1520, 1401)
    assert data["cash"] == [{"currency": "USD", "amount": -1401, "value_in_base": -1401}]
    assert data["fees"] == 1


def test_sell_realises_a_fifo_gain_and_edits_rebuild(alice: FlaskClient) -> None:
    pid = _create(alice)
    _buy(alice, pid, quantity="5", price="100", fees="0")
    second = _buy(alice, pid, quantity="5", price="120", fees="0").json["id"]
    sell = alice.post(f"/api/portfolios/{pid}/transactions", json={
        "type": "sell", "symbol": "AAPL", "quantity": "6", "price": "150", "fees": "0", "executed_at": WHEN})
    assert sell.status_code == 201
    data = alice.get(f"/api/portfolios/{pid}").json
    # FIFO: 5 x (150 - 100) + 1 x (150 - 120) = 280; 4 left at 120
    assert (data["realised_gain"], data["positions"][0]["quantity"], data["positions"][0]["cost_basis"]) == (
        280, 4, 480)
    patched = alice.patch(f"/api/portfolios/{pid}/transactions/{second}", json={"price": "110"})
    assert patched.status_code == 200 and patched.json["transaction"]["price"] == 110
    assert alice.get(f"/api/portfolios/{pid}").json["realised_gain"] == 290  # 250 + 40
    assert alice.delete(f"/api/portfolios/{pid}/transactions/{second}").status_code == 204
    # 5 bought, 6 sold: short 1 (opened at 150); realised 5 x 50
    data = alice.get(f"/api/portfolios/{pid}").json
    assert (data["realised_gain"], data["positions"][0]["quantity"]) == (250, -1)


def test_every_bad_field_is_named_and_nothing_is_stored(alice: FlaskClient) -> None:
    pid = _create(alice)
    response = alice.post(f"/api/portfolios/{pid}/transactions", json={
        "type": "buy", "symbol": "no spaces", "quantity": "-1", "price": "abc", "fees": "1.123456789",
        "currency": "euros", "executed_at": "yesterday", "fx_rate": "0", "colour": "red"})
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"symbol", "quantity", "price", "fees", "currency", "executed_at",
                                            "fx_rate", "colour"}
    assert "quantity: must be greater than 0" in response.json["error"]
    missing = alice.post(f"/api/portfolios/{pid}/transactions", json={"type": "swap"}).json["fields"]
    assert set(missing) == {"type", "quantity", "price", "executed_at"}
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0
    future = _buy(alice, pid, executed_at=(utcnow() + timedelta(days=3)).isoformat())
    assert future.json["fields"] == {"executed_at": "is in the future"}
    wrong_currency = _buy(alice, pid, currency="EUR")
    assert wrong_currency.json["fields"] == {"currency": "AAPL is quoted in USD"}
    unknown = _buy(alice, pid, symbol="NEWCO")
    assert unknown.json["fields"] == {"currency": "required: NEWCO is not known yet (e.g. USD, GBp)"}
    bad = alice.post("/api/portfolios", json={"name": "", "base_currency": "GBp"})
    assert set(bad.json["fields"]) == {"name", "base_currency"}
    assert alice.post("/api/portfolios", data="[]", content_type="application/json").status_code == 400


def test_fx_at_trade_date_from_history_given_or_refused(alice: FlaskClient) -> None:
    pid = _create(alice)
    sap = {"type": "buy", "symbol": "SAP", "quantity": "20", "price": "100", "executed_at": WHEN}
    refused = alice.post(f"/api/portfolios/{pid}/transactions", json=sap)
    assert refused.status_code == 400 and "EURUSD=X" in refused.json["fields"]["fx_rate"]
    fx = add_asset("EURUSD=X", "USD", "1.155", "1.08")
    db.session.add(PriceHistory(asset_id=fx.id, timestamp=DAY - timedelta(hours=2), price=D("1.20"), source="t"))
    db.session.add(PriceHistory(asset_id=fx.id, timestamp=DAY + timedelta(days=1, hours=1), price=D("9"), source="t"))
    db.session.commit()
    stored = alice.post(f"/api/portfolios/{pid}/transactions", json=sap).json["transaction"]
    assert (stored["fx_rate"], stored["fx_source"]) == (1.2, "history")  # the trade day's, not the next day's
    given = alice.post(f"/api/portfolios/{pid}/transactions", json={**sap, "fx_rate": "1.05"}).json["transaction"]
    assert (given["fx_rate"], given["fx_source"]) == (1.05, "given")
    position = alice.get(f"/api/portfolios/{pid}").json["positions"][0]
    # cost 2000 EUR x 1.20 + 2000 EUR x 1.05 = 4500 USD; value 4820 EUR x 1.155 = 5567.10 USD
    assert (position["cost_basis_in_base"], position["value_in_base"]) == (4500, 5567.1)
    assert position["unrealised_currency_return"] == 4000 * 1.155 - 4500  # 120.00
    assert position["current_value"] == 4820 and position["currency"] == "EUR"


def test_paging_patch_delete_portfolio_and_others_get_404(alice: FlaskClient) -> None:
    pid = _create(alice)
    for n in range(3):
        _buy(alice, pid, note=f"n{n}", executed_at=(DAY + timedelta(minutes=n)).isoformat())
    page = alice.get(f"/api/portfolios/{pid}/transactions?per_page=2&page=2").json
    assert (page["total"], [t["note"] for t in page["transactions"]]) == (3, ["n0"])  # newest first
    for bad in ("per_page=0", "per_page=501", "page=²", "page=" + "9" * 5000):  # never a 500
        assert alice.get(f"/api/portfolios/{pid}/transactions?{bad}").status_code == 400
    assert alice.patch(f"/api/portfolios/{pid}", json={"name": "Renamed"}).json["name"] == "Renamed"
    assert alice.patch(f"/api/portfolios/{pid}", json={"base_currency": "EUR"}).json["fields"] == {
        "base_currency": "cannot change once the ledger has transactions"}
    tid = alice.get(f"/api/portfolios/{pid}/transactions").json["transactions"][0]["id"]
    login(alice, "bob")
    for method, path in (("get", f"/api/portfolios/{pid}/transactions"),
                         ("post", f"/api/portfolios/{pid}/transactions"),
                         ("patch", f"/api/portfolios/{pid}"), ("delete", f"/api/portfolios/{pid}"),
                         ("patch", f"/api/portfolios/{pid}/transactions/{tid}"),
                         ("delete", f"/api/portfolios/{pid}/transactions/{tid}")):
        assert getattr(alice, method)(path, json={}).status_code == 404, (method, path)
    login(alice, "alice")
    assert alice.delete(f"/api/portfolios/{pid}").status_code == 204
    assert db.session.scalar(select(func.count()).select_from(Transaction)) == 0
    assert db.session.get(Portfolio, pid) is None


def test_performance_twr_and_mwr_around_a_deposit(alice: FlaskClient) -> None:
    pid = _create(alice)
    start = utcnow().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=3)
    alice.post(f"/api/portfolios/{pid}/transactions", json={
        "type": "deposit", "price": "1000", "executed_at": start.isoformat()})
    _buy(alice, pid, price="100", fees="0", executed_at=(start + timedelta(hours=1)).isoformat())
    for days, total in ((2, "1100"), (1, "1200")):
        db.session.add(PortfolioValue(portfolio_id=pid, timestamp=start + timedelta(days=3 - days),
                                      total_value=D(total), daily_change=D(0), stale_value=D(0)))
    # Past days' snapshots written behind the cache's back: drop it, as a new day would.
    db.session.get(Portfolio, pid).returns_basis = None  # type: ignore[union-attr]
    db.session.commit()
    body = alice.get(f"/api/portfolios/{pid}/performance?period=all").json
    # Day-end values 1100, 1200, then 1520 now (10 AAPL at 152, no cash left); the 1000 deposited before
    # the first value: 1100 / 1000 x 1200 / 1100 x 1520 / 1200 = 1.52
    assert (body["period"], body["twr_percent"], body["mwr_period_percent"]) == ("ALL", 52.0, 52.0)
    assert (body["start_value"], body["end_value"], body["net_flows"]) == (0, 1520, 1000)
    assert [point["value"] for point in body["series"]][-1] == 1520
    # portfolio_update carries the same figures for every period (past days cached once a day).
    returns = alice.get(f"/api/portfolios/{pid}").json["returns"]
    assert set(returns) == {"1D", "1W", "1M", "YTD", "1Y", "ALL"}
    assert (returns["ALL"]["twr_percent"], returns["1D"]["twr_percent"]) == (52.0, 26.67)  # 1520 / 1200
    listener = get_bus().listener()
    listener.subscribe(portfolio_channel(pid))
    _buy(alice, pid, quantity="1", price="152", fees="0", executed_at=utcnow().isoformat())  # today, at the price
    published = json.loads(listener.get(5).data)["data"]["returns"]
    assert published["ALL"]["twr_percent"] == 52.0  # a trade is no external flow; bought at the price: no move
    assert alice.get(f"/api/portfolios/{pid}/performance?period=2Y").json["fields"] == {
        "period": "period must be one of 1D, 1W, 1M, YTD, 1Y, ALL"}
    for period in ("1D", "1W", "1M", "YTD", "1Y"):
        assert alice.get(f"/api/portfolios/{pid}/performance?period={period}").status_code == 200
