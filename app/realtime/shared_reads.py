"""What a subscribe reads, shared by every socket of the process: memory first, then one query for many.

The latest update heard per asset channel answers a snapshot; batched reads do the rest.

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

from app.realtime.coalesce import Coalescer
from app.realtime.connection import Identity
from app.realtime.feed_requests import ask_feed_for
from app.realtime.socket_auth import authorised, portfolio_owners, token_owners
from infra.revaluation import valuation_limits
from infra.settings import get_settings
from models.portfolio_valuation import portfolio_updates_data
from models.snapshots import quote_snapshots
from protocol.channels import asset_channel

logger = logging.getLogger("pricewire.realtime")


class SharedReads:
    """One per relay: the latest asset update per listened channel, and the coalesced reads of subscribe."""

    def __init__(self, app: Flask) -> None:
        self.latest: dict[str, dict[str, Any]] = {}  # asset channel -> data of its newest update
        self.snapshots: Coalescer[str, dict[str, Any]] = Coalescer(
            app, lambda symbols: quote_snapshots(symbols, get_settings(app).data_stale_after_seconds), "snapshots")
        self.auth: Coalescer[Identity, bool] = Coalescer(app, authorised, "auth")
        self.tokens: Coalescer[str, int] = Coalescer(app, token_owners, "tokens")
        self.owners: Coalescer[int, int] = Coalescer(app, portfolio_owners, "owners")
        self.portfolios: Coalescer[int, dict[str, Any]] = Coalescer(
            app, lambda ids: portfolio_updates_data(ids, limits=valuation_limits(app)), "portfolios", chunk=200)
        self.feed_requests: Coalescer[str, None] = Coalescer(app, lambda symbols: self._ask(app, symbols),
                                                             "feed-requests")
        self.hits = 0
        self.misses = 0

    # ---- the relay's side -------------------------------------------------------------------------

    def heard(self, channel: str, data: dict[str, Any]) -> None:
        """An asset update arrived on a listened channel: it is the newest state."""
        self.latest[channel] = data

    def forget(self, channels: Iterable[str] | None = None) -> None:
        """Stop vouching for these channels (all of them when None): the relay no longer hears them."""
        if channels is None:
            self.latest.clear()
            return
        for channel in channels:
            self.latest.pop(channel, None)

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

    @staticmethod
    def _ask(app: Flask, symbols: list[str]) -> Mapping[str, None]:
        ask_feed_for(app, symbols)
        return {}

    def stats(self) -> dict[str, int]:
        """Counters for the process's stats."""
        return {"snapshot_hits": self.hits, "snapshot_misses": self.misses, "snapshot_reads": self.snapshots.batches,
                "auth_reads": self.auth.batches, "remembered_channels": len(self.latest)}
