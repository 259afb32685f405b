"""Pence end to end: Yahoo's GBp quote -> asset in GBp -> 100 shares at 308.8p worth 308.80 GBP on REST and WS."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import ApiToken, Asset, Portfolio, Position, User, db
from tasks import pipeline
from tasks.market_data import build_data_source_manager
from tests.app.ws.client import WsClient
from tests.app.ws.conftest import PASSWORD, connected
from tests.conftest import make_app
from tests.support.processes import WebServer
from tests.tasks.market_data.conftest import Reply, StubServer, load_response
from tests.tasks.market_data.replay import QUOTE_PATH, cookie_url, guarded, install_session

pytestmark = pytest.mark.integration


def ocado_now(_seen: object) -> Reply:
    """Yahoo's London quote (the recorded VOD.L row) as OCDO.L at 308.8p, printed just now (adapted by hand)."""
    body = json.loads(load_response("yahoo_quote_lse_gbp.json"))
    row = next(r for r in body["quoteResponse"]["result"] if r["symbol"] == "VOD.L")
    row.update(symbol="OCDO.L", longName="Ocado Group plc", regularMarketPrice=308.8, regularMarketDayHigh=310.2,
               regularMarketDayLow=301.0, regularMarketPreviousClose=305.0, regularMarketChange=3.8,
               regularMarketChangePercent=1.2459, regularMarketTime=int(time.time()) - 60)
    body["quoteResponse"]["result"] = [row]
    return Reply(json.dumps(body))


@pytest.fixture
def replay() -> Iterator[StubServer]:
    server = StubServer()
    install_session(server)
    server.route(QUOTE_PATH, guarded(ocado_now))
    yield server
    server.close()


def test_pence_quote_values_100_shares_at_308_80_gbp(
    pg_committed_url: str, replay: StubServer, servers: Callable[..., WebServer],
    clients: Callable[..., WsClient],
) -> None:
    app = make_app({"DATABASE_URL": pg_committed_url, "MARKET_DATA_SOURCE_PRIORITIES": "yahoo_finance:1",
                    "YAHOO_FINANCE_BASE_URL": replay.url, "YAHOO_FINANCE_COOKIE_URL": cookie_url(replay)})
    with app.app_context():
        manager = build_data_source_manager(app.config, None)
        batch = pipeline.process_batch(["OCDO.L"], publish=False, manager=manager)
        assert batch.failed == {}
        asset = db.session.scalar(select(Asset).where(Asset.symbol == "OCDO.L"))
        assert asset is not None and (asset.currency, asset.currency_source) == ("GBp", "yahoo_finance")
        alice = User(username="alice")
        alice.set_password(PASSWORD)
        db.session.add(alice)
        token, plain = ApiToken.issue(alice, "tests")
        portfolio = Portfolio(owner=alice, name="UK", base_currency="GBP")
        db.session.add_all([token, portfolio])
        db.session.flush()
        # Cost basis is in the asset's currency: 25,000p = 250.00 GBP.
        db.session.add(Position(portfolio_id=portfolio.id, asset_id=asset.id, quantity=Decimal(100),
                                cost_basis=Decimal(25000)))
        db.session.commit()
        portfolio_id = portfolio.id
        client = app.test_client()
        assert client.post("/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
        rest = client.get(f"/api/portfolios/{portfolio_id}").json
        db.session.remove()
        db.engine.dispose()

    assert rest["base_currency"] == "GBP" and rest["total_value"] == 308.8
    [position] = rest["positions"]
    assert position["symbol"] == "OCDO.L" and position["currency"] == "GBp" and position["value_in_base"] == 308.8

    web = servers()
    socket = clients(web.ws_url, token=plain)
    connected(socket)
    socket.send("subscribe_portfolio", {"portfolio_id": portfolio_id})
    snapshot = socket.expect_type("portfolio_update", portfolio_id=portfolio_id)["data"]
    assert snapshot["total_value"] == 308.8 and snapshot["base_currency"] == "GBP"
    socket.send("subscribe_asset", {"symbol": "OCDO.L"})
    quote = socket.expect_type("asset_update", symbol="OCDO.L")["data"]
    assert quote["price"] == 308.8 and quote["stale"] is False
