"""What a subscribe reads, shared by every socket of the process: memory first, then one query for many.

The latest update heard per asset channel answers a snapshot, its data serialised once for every socket
(each socket's copy only adds the envelope); batched reads do the rest.

A snapshot served from memory is as new as one read from the database: the relay listens on a channel
before it reads the channel's state, and every stored change after that is published to it, so the latest
update heard (or the read made after listening) is the stored state. The memory of a channel is dropped when
the relay stops listening to it or the bus goes down (then nothing proves it is current).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask

from app.realtime.cluster import ClusterState
from app.realtime.coalesce import Coalescer
from app.realtime.connection import Identity
from app.realtime.feed_requests import ask_feed_for, known_symbols
from app.realtime.socket_auth import authorised, portfolio_owners, token_owners
from app.realtime.stats import get_cluster
from app.realtime.updates import Update, update_from_json
from infra.revaluation import valuation_limits
from infra.settings import get_settings
from models.portfolio_valuation import portfolio_updates_data
from models.snapshots import quote_snapshots
from protocol.channels import asset_channel
from protocol.client import ASSET_UPDATE
from protocol.wire import dumps

logger = logging.getLogger("pricewire.realtime")


class SharedReads:
    """One per relay: the latest asset update per listened channel, and the coalesced reads of subscribe."""

    def __init__(self, app: Flask) -> None:
        self.latest: dict[str, dict[str, Any]] = {}  # asset channel -> data of its newest update
        # asset channel -> (the latest data it was made from, that data flagged as a snapshot, its JSON)
        self.frames: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {}
        self.snapshots: Coalescer[str, dict[str, Any]] = Coalescer(
            app, lambda symbols: quote_snapshots(symbols, get_settings(app).data_stale_after_seconds), "snapshots")
        self.auth: Coalescer[Identity, bool] = Coalescer(app, authorised, "auth")
        self.tokens: Coalescer[str, int] = Coalescer(app, token_owners, "tokens")
        self.owners: Coalescer[int, int] = Coalescer(app, portfolio_owners, "owners")
        self.known: Coalescer[str, bool] = Coalescer(app, lambda symbols: dict.fromkeys(known_symbols(symbols), True),
                                                     "known")
        self.portfolios: Coalescer[int, dict[str, Any]] = Coalescer(
            app, lambda ids: portfolio_updates_data(ids, limits=valuation_limits(app)), "portfolios", chunk=200)
        self.feed_requests: Coalescer[str, None] = Coalescer(app, lambda symbols: self._ask(app, symbols),
                                                             "feed-requests")
        # Connection slots (Redis): every socket connecting or closing now in one pipeline.
        self.slots: Coalescer[tuple[int, str, int], bool] = Coalescer(app, lambda wanted: self._cluster(app)
                                                                      .reserve_slots(wanted), "slots")
        self.released: Coalescer[tuple[int, str], None] = Coalescer(app, lambda slots: self._release(app, slots),
                                                                    "released-slots")
        self.hits = 0
        self.misses = 0

    # ---- the relay's side -------------------------------------------------------------------------

    def heard(self, channel: str, data: dict[str, Any]) -> None:
        """An asset update arrived on a listened channel: it is the newest state."""
        self.latest[channel] = data
        self.frames.pop(channel, None)  # its snapshot frame is made again, from this data, when first asked for

    def forget(self, channels: Iterable[str] | None = None) -> None:
        """Stop vouching for these channels (all of them when None): the relay no longer hears them."""
        if channels is None:
            self.latest.clear()
            self.frames.clear()
            return
        for channel in channels:
            self.latest.pop(channel, None)
            self.frames.pop(channel, None)

    # ---- the sockets' side --------------------------------------------------------------------------

    def asset_snapshots(self, symbols: Iterable[str], listened: set[str]) -> dict[str, dict[str, Any]]:
        """Channel -> asset_update data: from memory where heard, the rest in one shared query.

        `listened` is what the relay hears now; only reads of those channels are remembered.
        """
        result: dict[str, dict[str, Any]] = {}
        missing: list[str] = []
        for symbol in dict.fromkeys(symbols):
            channel = asset_channel(symbol)
            data = self.latest.get(channel)
            if data is None:
                missing.append(symbol)
            else:
                result[channel] = data
        self.hits += len(result)
        self.misses += len(missing)
        for symbol, data in self.snapshots.get(missing).items():
            channel = asset_channel(symbol)
            # An update heard while we read is newer than the read: it wins.
            result[channel] = self.latest.get(channel) or data
            if channel in listened:
                self.latest.setdefault(channel, data)
        return result

    def asset_snapshot_update(self, channel: str, data: dict[str, Any], connection_id: str) -> Update:
        """One socket's snapshot of `data` (from asset_snapshots); the data's JSON is shared while it is the latest.

        The cached JSON is used only for the very dict it was made from, so a newer update heard is never
        answered with an older frame.
        """
        cached = self.frames.get(channel)
        if cached is None or cached[0] is not data:
            flagged = {**data, "snapshot": True}
            cached = (data, flagged, dumps(flagged))
            if self.latest.get(channel) is data:  # only the current state is kept (bounded by what is heard)
                self.frames[channel] = cached
        return update_from_json(channel, ASSET_UPDATE, cached[1], cached[2], connection_id)

    def known_symbols(self, symbols: list[str]) -> set[str]:
        """Which of `symbols` are assets: those heard on the bus, the rest in a query shared with other sockets."""
        heard = {symbol for symbol in symbols if asset_channel(symbol) in self.latest}
        others = [symbol for symbol in symbols if symbol not in heard]
        return heard | set(self.known.get(others)) if others else heard

    def token_owner(self, token_hash: str) -> int | None:
        """The user id of a token (by hash), looked up with every other socket connecting now."""
        return self.tokens.get([token_hash]).get(token_hash)

    def still_authorised(self, identity: Identity) -> bool:
        """The user exists and (for a token) the token is not revoked, checked now in a shared query."""
        return self.auth.get([identity]).get(identity, False)

    def may_read_portfolio(self, identity: Identity, portfolio_id: int) -> bool:
        """The user owns the portfolio (missing and foreign are the same answer), in a shared query."""
        return self.owners.get([portfolio_id]).get(portfolio_id) == identity.user_id

    def portfolio_snapshot(self, portfolio_id: int) -> dict[str, Any] | None:
        """A portfolio's current portfolio_update data, valued together with every other socket's asking now."""
        return self.portfolios.get([portfolio_id]).get(portfolio_id)

    def ask_feed_for(self, symbols: Iterable[str]) -> None:
        """Have the feed track these symbols; one request for every socket's symbols, nobody waits for it."""
        self.feed_requests.submit(symbols)

    def reserve_slot(self, user_id: int, connection_id: str, limit: int) -> bool:
        """ClusterState.reserve_slot() with every other socket connecting now; raises CoalesceError."""
        key = (user_id, connection_id, limit)
        return self.slots.get([key]).get(key, False)

    def release_slot(self, user_id: int, connection_id: str) -> None:
        """Give a slot back with every other socket closing now; nobody waits (a slot expires on its own)."""
        self.released.submit([(user_id, connection_id)])

    @staticmethod
    def _cluster(app: Flask) -> ClusterState:
        cluster = get_cluster(app)
        if cluster is None:
            raise RuntimeError("connection slots need Redis (embedded mode counts this process's sockets)")
        return cluster

    @staticmethod
    def _release(app: Flask, slots: list[tuple[int, str]]) -> Mapping[tuple[int, str], None]:
        SharedReads._cluster(app).release_slots(slots)
        return {}

    @staticmethod
    def _ask(app: Flask, symbols: list[str]) -> Mapping[str, None]:
        ask_feed_for(app, symbols)
        return {}

    def stats(self) -> dict[str, int]:
        """Counters for the process's stats."""
        return {"snapshot_hits": self.hits, "snapshot_misses": self.misses, "snapshot_reads": self.snapshots.batches,
                "auth_reads": self.auth.batches, "known_reads": self.known.batches,
                "remembered_channels": len(self.latest)}
