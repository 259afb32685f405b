"""Subscribe's shared reads: snapshots from memory or one batched query equal the database's, auth in batches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import gevent
import pytest
from flask import Flask

from app.realtime.coalesce import CoalesceError, Coalescer
from app.realtime.connection import Identity
from app.realtime.relay import Relay
from app.realtime.socket_auth import authorised
from app.realtime.updates import snapshot_update
from infra.bus import BusMessage
from models import ApiToken, Asset, Quote, User, db
from models.snapshots import asset_update_data, quote_snapshots
from protocol.bus import asset_update_message
from protocol.channels import asset_channel

SYMBOLS = [f"S{i:02d}" for i in range(30)]


@pytest.fixture
def relay(app: Flask) -> Iterator[Relay]:
    created = Relay(app)  # never started: dispatch() and listening() are driven by hand
    yield created
    created.stats.stop()


@pytest.fixture
def quotes(app: Flask) -> None:
    now = datetime(2026, 11, 29, 15, 30, 1, 123456, tzinfo=UTC)
    for index, symbol in enumerate(SYMBOLS):
        asset = Asset(symbol=symbol, name=symbol, currency="USD")
        db.session.add(asset)
        db.session.flush()
        db.session.add(Quote(asset_id=asset.id, price=Decimal("101.2500") + index, previous_close=Decimal("100.10"),
                             change=Decimal("1.15"), change_percent=Decimal("1.1489"), volume=1_000 + index,
                             high=Decimal("102"), low=None, market_cap=Decimal("3.0E12"), source="simulated",
                             last_updated=now, seq=7 + index))
    db.session.commit()


def client_view(channel: str, data: dict[str, Any]) -> Any:
    """What a client receives as the snapshot of `channel`."""
    return json.loads(snapshot_update(channel, data).text)["data"]


def database_view() -> dict[str, Any]:
    return {asset_channel(s): client_view(asset_channel(s), d) for s, d in quote_snapshots(SYMBOLS).items()}


def test_many_sockets_at_once_share_one_query_and_get_the_database_snapshot(relay: Relay, quotes: None) -> None:
    asks = [gevent.spawn(relay.reads.asset_snapshots, [symbol, "NOPE"], set()) for symbol in SYMBOLS]
    asks.append(gevent.spawn(relay.reads.asset_snapshots, SYMBOLS, set()))
    gevent.joinall(asks, raise_error=True)

    assert relay.reads.snapshots.batches == 1
    expected = database_view()
    for symbol, ask in zip(SYMBOLS, asks, strict=False):
        channel = asset_channel(symbol)
        assert {c: client_view(c, d) for c, d in ask.value.items()} == {channel: expected[channel]}
    assert {c: client_view(c, d) for c, d in asks[-1].value.items()} == expected


def test_a_snapshot_from_the_latest_update_heard_equals_the_database_one(relay: Relay, quotes: None) -> None:
    channels = {asset_channel(symbol) for symbol in SYMBOLS}
    relay.listening(channels, set(), 0)
    for symbol in SYMBOLS:  # what the price feed publishes after it stored the quote
        quote = db.session.get(Asset, _asset_id(symbol)).quote
        relay.dispatch(BusMessage(asset_channel(symbol), asset_update_message(asset_update_data(symbol, quote))))

    served = relay.reads.asset_snapshots(SYMBOLS, relay.listened)

    assert relay.reads.snapshots.batches == 0  # nothing read: all from memory
    assert {c: client_view(c, d) for c, d in served.items()} == database_view()


def test_a_read_is_remembered_only_while_the_relay_listens(relay: Relay, quotes: None) -> None:
    listened = asset_channel(SYMBOLS[0])
    relay.listening({listened}, set(), 0)

    relay.reads.asset_snapshots(SYMBOLS[:2], relay.listened)
    assert set(relay.reads.latest) == {listened}

    relay.listening(set(), {listened}, 0)
    assert relay.reads.latest == {}
    relay.listening({listened}, set(), 0)
    relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)
    relay.mark_down("test")
    assert relay.reads.latest == {}


def test_a_newer_update_heard_replaces_the_remembered_one(relay: Relay, quotes: None) -> None:
    channel = asset_channel(SYMBOLS[0])
    relay.listening({channel}, set(), 0)
    relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)
    newer = {**quote_snapshots(SYMBOLS[:1])[SYMBOLS[0]], "price": Decimal("250"), "seq": 99}
    relay.dispatch(BusMessage(channel, asset_update_message(newer)))

    served = relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)

    assert client_view(channel, served[channel])["seq"] == 99
    assert relay.reads.snapshots.batches == 1


def test_authorisation_of_many_identities_in_one_read(app: Flask) -> None:
    alice, bob = User(username="alice"), User(username="bob")
    for user in (alice, bob):
        user.set_password("pw")
    db.session.add_all([alice, bob])
    db.session.flush()
    token, plain = ApiToken.issue(alice, "t")
    revoked, revoked_plain = ApiToken.issue(alice, "r")
    db.session.add_all([token, revoked])
    db.session.commit()
    identities = [
        Identity(alice.id, "token", ApiToken.hash_token(plain)),
        Identity(alice.id, "token", ApiToken.hash_token(revoked_plain)),
        Identity(bob.id, "token", ApiToken.hash_token(plain)),  # someone else's token
        Identity(bob.id, "session", session_version=bob.session_version),
        Identity(bob.id, "session", session_version=(bob.session_version or 0) + 1),  # logged out since
        Identity(9999, "session"),
    ]
    db.session.delete(revoked)
    db.session.commit()

    assert authorised(identities) == dict(zip(identities, [True, False, False, True, False, False], strict=True))


def test_a_failed_shared_read_fails_every_waiter_and_the_next_one_runs(app: Flask) -> None:
    calls: list[list[int]] = []

    def fetch(keys: list[int]) -> dict[int, int]:
        calls.append(keys)
        if len(calls) == 1:
            raise RuntimeError("database gone")
        return {key: key * 2 for key in keys}

    coalescer: Coalescer[int, int] = Coalescer(app, fetch, "test", chunk=2)
    first = [gevent.spawn(coalescer.get, [n]) for n in range(3)]
    gevent.joinall(first)
    assert all(isinstance(g.exception, CoalesceError) for g in first)

    assert coalescer.get([1, 2, 3, 4, 5]) == {1: 2, 2: 4, 3: 6, 4: 8, 5: 10}
    assert calls[1:] == [[1, 2], [3, 4], [5]]  # chunked


def _asset_id(symbol: str) -> int:
    return int(db.session.scalar(db.select(Asset.id).where(Asset.symbol == symbol)))


def test_portfolio_snapshots_of_many_sockets_are_valued_together_and_equal_the_database_one(
        relay: Relay, quotes: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from models import Portfolio, Position
    from models.portfolio_valuation import portfolio_update_data

    # One valuation moment for both reads: price_age_seconds would differ across a second boundary.
    moment = datetime.now(UTC)
    monkeypatch.setattr("models.portfolio_valuation.utcnow", lambda: moment)

    owner = User(username="owner")
    owner.set_password("pw")
    portfolios = [Portfolio(owner=owner, name=f"p{n}", base_currency="USD") for n in range(5)]
    db.session.add_all([owner, *portfolios])
    db.session.flush()
    for n, portfolio in enumerate(portfolios):
        for symbol in SYMBOLS[n:n + 3]:
            db.session.add(Position(portfolio_id=portfolio.id, asset_id=_asset_id(symbol), quantity=Decimal(n + 1),
                                    cost_basis=Decimal(500)))
    db.session.commit()
    ids = [p.id for p in portfolios]

    asks = [gevent.spawn(relay.reads.portfolio_snapshot, pid) for pid in [*ids, 999]]
    gevent.joinall(asks, raise_error=True)

    assert relay.reads.portfolios.batches == 1
    assert asks[-1].value is None  # no such portfolio
    for pid, ask in zip(ids, asks, strict=False):
        expected = portfolio_update_data(pid)
        assert expected is not None
        assert ask.value == expected


def _without_timestamp(text: str) -> dict[str, Any]:
    return {**json.loads(text), "timestamp": None}


def test_a_snapshot_frame_is_shared_until_a_newer_update_replaces_it(relay: Relay, quotes: None) -> None:
    channel = asset_channel(SYMBOLS[0])
    relay.listening({channel}, set(), 0)
    data = relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)[channel]

    first = relay.reads.asset_snapshot_update(channel, data, "c-1")
    second = relay.reads.asset_snapshot_update(channel, data, "c-2")

    assert first.data is second.data  # serialised once for both sockets
    for update, connection_id in ((first, "c-1"), (second, "c-2")):  # the same text as a socket's own snapshot
        assert _without_timestamp(update.text) == _without_timestamp(snapshot_update(channel, data, connection_id).text)
        assert json.loads(update.text)["connection_id"] == connection_id
    assert (first.seq, first.price, first.data["snapshot"]) == (data["seq"], Decimal(str(data["price"])), True)

    newer = {**data, "price": Decimal("250.5"), "seq": data["seq"] + 1}
    relay.dispatch(BusMessage(channel, asset_update_message(newer)))  # the bus moves the state on
    current = relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)[channel]
    after = relay.reads.asset_snapshot_update(channel, current, "c-3")

    assert (after.seq, json.loads(after.text)["data"]["price"]) == (data["seq"] + 1, 250.5)
    # A socket still holding the older read gets that read's own frame, and the shared one stays the newest.
    stale = relay.reads.asset_snapshot_update(channel, data, "c-4")
    assert stale.seq == data["seq"]
    assert relay.reads.asset_snapshot_update(channel, current, "c-5").seq == data["seq"] + 1
    relay.listening(set(), {channel}, 0)
    assert relay.reads.frames == {}  # not listened: nothing kept


def test_a_subscribe_never_gets_a_snapshot_older_than_an_update_already_delivered(relay: Relay, quotes: None) -> None:
    channel = asset_channel(SYMBOLS[0])
    relay.listening({channel}, set(), 0)
    data = relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)[channel]
    relay.reads.asset_snapshot_update(channel, data, "c-1")  # the frame of seq n is cached
    for step in (1, 2, 3):
        relay.dispatch(BusMessage(channel, asset_update_message({**data, "seq": data["seq"] + step})))
        served = relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)[channel]
        assert relay.reads.asset_snapshot_update(channel, served, "c-2").seq == data["seq"] + step


def test_a_read_while_the_bus_is_down_is_not_remembered_though_a_reconnect_subscribed(
        relay: Relay, quotes: None) -> None:
    channel = asset_channel(SYMBOLS[0])
    relay.mark_down("test")
    relay.listening({channel}, set(), 0)  # an attempt subscribed; its probe has not come back (frozen Redis)

    relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)

    assert relay.listened == set() and relay.reads.latest == {}
    relay.mark_up()
    relay.reads.asset_snapshots(SYMBOLS[:1], relay.listened)
    assert set(relay.reads.latest) == {channel}


def test_which_symbols_exist_is_one_shared_query_and_none_for_symbols_heard(relay: Relay, quotes: None) -> None:
    heard = asset_channel(SYMBOLS[0])
    relay.listening({heard}, set(), 0)
    relay.dispatch(BusMessage(heard, asset_update_message(quote_snapshots(SYMBOLS[:1])[SYMBOLS[0]])))

    asks = [gevent.spawn(relay.reads.known_symbols, [symbol, "NOPE"]) for symbol in SYMBOLS]
    gevent.joinall(asks, raise_error=True)

    assert [ask.value for ask in asks] == [{symbol} for symbol in SYMBOLS]
    assert relay.reads.known.batches == 1
    assert relay.reads.known_symbols([SYMBOLS[0]]) == {SYMBOLS[0]} and relay.reads.known.batches == 1
