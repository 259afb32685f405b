"""Client messages on an open socket: ping, subscribe/unsubscribe for assets and portfolios."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

from flask import Flask

from app import metrics
from app.realtime.connection import Connection
from app.realtime.feed_requests import admit_symbols
from app.realtime.limits import Subscription
from app.realtime.relay import Relay
from app.realtime.updates import Update, resumed_update, snapshot_update
from infra.settings import get_settings
from protocol.channels import ASSET, PORTFOLIO, asset_channel, channel_symbol, portfolio_channel
from protocol.client import (
    PING,
    PONG,
    SUBSCRIBE_ASSET,
    SUBSCRIBE_PORTFOLIO,
    SUBSCRIBED,
    UNSUBSCRIBE_ASSET,
    UNSUBSCRIBED,
    ClientMessage,
    parse_client_message,
    subscribed_data,
    unsubscribed_data,
)
from protocol.codes import BAD_REQUEST, FORBIDDEN, UNAUTHORIZED, ProtocolError
from protocol.wire import client_envelope_json, dumps


@lru_cache(maxsize=16_384)
def _subscribed_json(channel: str, resumed: bool) -> str:
    """The data of a `subscribed` reply, serialised once per channel (a storm sends it for every subscribe)."""
    return dumps(subscribed_data(channel, resumed))


class MessageHandler:
    """Acts on one connection's frames, in order (the read loop calls handle() for each)."""

    def __init__(self, app: Flask, connection: Connection, relay: Relay) -> None:
        self.app = app
        self.connection = connection
        self.relay = relay
        settings = get_settings(app)
        self.max_subscriptions = settings.websocket_max_subscriptions_per_connection
        self.pending_limit = max(16, settings.websocket_resume_buffer_size)

    def handle(self, frame: str | bytes) -> None:
        """Validate and act; bad input gets an `error` and the socket stays open."""
        try:
            message = parse_client_message(frame)
        except ProtocolError as exc:
            self.connection.error(exc.code, exc.message)
            return
        if message.type == PING:
            self.connection.reply(PONG, {})
        elif message.type == SUBSCRIBE_ASSET:
            self._subscribe_assets(message)
        elif message.type == SUBSCRIBE_PORTFOLIO:
            assert message.portfolio_id is not None
            self._subscribe(message, [(portfolio_channel(message.portfolio_id), message.portfolio_id)])
        elif message.type == UNSUBSCRIBE_ASSET:
            self._unsubscribe([(asset_channel(symbol), symbol) for symbol in message.symbols])
        else:
            assert message.portfolio_id is not None
            self._unsubscribe([(portfolio_channel(message.portfolio_id), message.portfolio_id)])

    # ---- subscribe ------------------------------------------------------------------------------

    def _allowed(self, message: ClientMessage, channels: list[tuple[str, Any]]) -> bool:
        connection = self.connection
        new = [channel for channel, _ in channels if channel not in connection.subscriptions]
        if len(connection.subscriptions) + len(new) > self.max_subscriptions:
            connection.error(BAD_REQUEST, f"subscription limit reached: at most {self.max_subscriptions} "
                                          f"per connection (have {len(connection.subscriptions)})")
            return False
        reads = self.relay.reads  # shared with every socket of the process: one query for a reconnect storm
        if not reads.still_authorised(connection.identity):
            connection.close(UNAUTHORIZED, "credentials are no longer valid")
            return False
        if message.portfolio_id is not None and not reads.may_read_portfolio(connection.identity, message.portfolio_id):
            # The same words whether the portfolio is missing or someone else's.
            connection.error(FORBIDDEN, f"portfolio {message.portfolio_id} is not available to you")
            return False
        return True

    def _subscribe_assets(self, message: ClientMessage) -> None:
        if not self._allowed(message, [(asset_channel(symbol), symbol) for symbol in message.symbols]):
            return
        reads = self.relay.reads
        admission = admit_symbols(self.app, self.connection.user_id, list(message.symbols),
                                  known_of=reads.known_symbols, ask=reads.ask_feed_for)
        for error in admission.errors:
            self.connection.error(BAD_REQUEST, error)
        if admission.accepted:
            self._subscribe(replace(message, symbols=tuple(admission.accepted)),
                            [(asset_channel(symbol), symbol) for symbol in admission.accepted], checked=True)

    def _subscribe(self, message: ClientMessage, channels: list[tuple[str, Any]], checked: bool = False) -> bool:
        connection = self.connection
        if not checked and not self._allowed(message, channels):
            return False
        kind = ASSET if message.type == SUBSCRIBE_ASSET else PORTFOLIO
        created, generation = self._register(message, kind, channels)
        # Listen first, read the state second: an update published in between is held, not lost.
        self.relay.wait_applied(generation)
        replayed = self._replayed(created, message.last_seq)
        replies = [client_envelope_json(SUBSCRIBED, _subscribed_json(channel, channel in replayed), connection.id)
                   for channel, _ in channels]
        wanted = [channel for channel in created if channel not in replayed]
        try:
            snapshots = self._snapshots(kind, wanted, message) if wanted else {}
        except Exception:
            connection.start_subscriptions(replies, [])  # acknowledged all the same; the caller reports the error
            raise
        started: list[tuple[Subscription, list[Update]]] = []
        for channel, subscription in created.items():
            if connection.subscriptions.get(channel) is not subscription:
                continue  # replaced or unsubscribed while we read
            if channel in replayed:
                initial = replayed[channel]
            elif channel in snapshots and kind == ASSET:
                initial = [self.relay.reads.asset_snapshot_update(channel, snapshots[channel], connection.id)]
            elif channel in snapshots:
                initial = [snapshot_update(channel, snapshots[channel], connection.id)]
            else:
                initial = []
            started.append((subscription, initial))
        # The acks, then each snapshot or replay, in one write (the subscribe's reply, in order).
        connection.start_subscriptions(replies, started)
        return True

    def _register(self, message: ClientMessage, kind: str,
                  channels: list[tuple[str, Any]]) -> tuple[dict[str, Subscription], int]:
        """Subscriptions on the connection and the relay; the relay generation to wait for."""
        connection = self.connection
        created: dict[str, Subscription] = {}
        generation = 0
        for channel, target in channels:
            subscription = Subscription(channel, kind, target, message.max_hz, message.min_change_percent,
                                        pending_limit=self.pending_limit)
            if connection.subscriptions.get(channel) is None:
                metrics.subscriptions.labels(kind).inc()
            connection.subscriptions[channel] = subscription
            created[channel] = subscription
            generation = max(generation, self.relay.subscribe(connection, channel))
        return created, generation

    def _replayed(self, channels: dict[str, Subscription], last_seq: int | None) -> dict[str, list[Update]]:
        """The buffered updates after `last_seq` per channel, where the buffer still reaches back that far."""
        replayed: dict[str, list[Update]] = {}
        if last_seq is None:
            return replayed
        for channel in channels:
            missed = self.relay.replay(channel, last_seq)
            if missed is not None:
                replayed[channel] = [resumed_update(update, self.connection.id) for update in missed]
        return replayed

    def _snapshots(self, kind: str, channels: list[str], message: ClientMessage) -> dict[str, dict[str, Any]]:
        if kind == ASSET:
            return self.relay.reads.asset_snapshots((channel_symbol(channel) for channel in channels),
                                                    self.relay.listened)
        assert message.portfolio_id is not None
        data = self.relay.reads.portfolio_snapshot(message.portfolio_id)
        return {} if data is None else {channels[0]: data}

    # ---- unsubscribe ----------------------------------------------------------------------------

    def _unsubscribe(self, channels: list[tuple[str, Any]]) -> None:
        connection = self.connection
        for channel, _ in channels:
            subscription = connection.subscriptions.pop(channel, None)
            if subscription is not None:
                metrics.subscriptions.labels(subscription.kind).dec()
                self.relay.unsubscribe(connection, channel)
            connection.reply(UNSUBSCRIBED, unsubscribed_data(channel))
