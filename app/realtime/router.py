"""The relay's router: which local socket gets which channel, with refcounts, linger, resume buffers and fan-out.

Socket greenlets call it (register, subscribe) and so does the bus loop (deliver); it never blocks and never
does IO: deliveries are enqueued on each connection, which writes (or queues) on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent

from app.realtime.buffers import ResumeBuffer
from app.realtime.connection import WRITTEN, Connection, record_written
from app.realtime.updates import Update, channel_kind
from protocol.channels import ASSET, PORTFOLIO, channel_symbol, is_asset_channel, user_channel

logger = logging.getLogger("pricewire.realtime")

LINGER_SECONDS = 60.0  # keep an unwanted channel (and its resume buffer) this long for reconnecting clients
FANOUT_YIELD = 256  # let writers run after this many deliveries


class Router:
    """Connections by id and by user, subscribers by channel, idle channels, resume buffers."""

    def __init__(self, buffer_size: int, on_change: Callable[[], None]) -> None:
        self.buffer_size = buffer_size
        self.on_change = on_change  # something the stats heartbeat reports changed
        self.connections: dict[str, Connection] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self.subscribers: dict[str, set[Connection]] = {}
        self.idle_since: dict[str, float] = {}
        self.buffers: dict[str, ResumeBuffer[Update]] = {}
        self.subscription_counts = {ASSET: 0, PORTFOLIO: 0}  # (connection, channel) pairs by kind
        self.dirty_users: set[int] = set()  # whose connection list changed since the last stats write

    # ---- sockets --------------------------------------------------------------------------------

    def add(self, connection: Connection) -> None:
        """A socket was accepted (its user's channel is routed by the caller)."""
        self.connections[connection.id] = connection
        self.by_user.setdefault(connection.user_id, set()).add(connection)

    def discard(self, connection: Connection) -> bool:
        """A socket ended: drop it from every channel; False when it was not here."""
        if self.connections.pop(connection.id, None) is None:
            return False
        for channel in [*connection.subscriptions, user_channel(connection.user_id)]:
            self._remove(channel, connection)
        users = self.by_user.get(connection.user_id)
        if users is not None:
            users.discard(connection)
            if not users:
                del self.by_user[connection.user_id]
        self.changed(connection)
        return True

    def user_connections(self, user_id: int) -> list[Connection]:
        """The open sockets of one user in this process."""
        return list(self.by_user.get(user_id, ()))

    def changed(self, connection: Connection) -> None:
        """The connection list or subscriptions of this socket's user changed."""
        self.dirty_users.add(connection.user_id)
        self.on_change()

    # ---- routes ---------------------------------------------------------------------------------

    def route(self, connection: Connection, channel: str) -> None:
        """Send `channel` to `connection` (counted once per pair)."""
        members = self.subscribers.setdefault(channel, set())
        kind = channel_kind(channel)
        if kind is not None and connection not in members:
            self.subscription_counts[kind] += 1
        members.add(connection)
        self.idle_since.pop(channel, None)
        self.changed(connection)

    def unroute(self, connection: Connection, channel: str) -> None:
        """Stop sending `channel` to `connection` (the channel lingers for a while)."""
        self._remove(channel, connection)
        self.changed(connection)

    def _remove(self, channel: str, connection: Connection) -> None:
        members = self.subscribers.get(channel)
        if members is None or connection not in members:
            return
        members.discard(connection)
        kind = channel_kind(channel)
        if kind is not None:
            self.subscription_counts[kind] -= 1
        if not members:
            del self.subscribers[channel]
            self.idle_since[channel] = time.monotonic()

    def wanted_channels(self) -> set[str]:
        """Every routed channel and the recently idle ones (older idle ones are forgotten now)."""
        now = time.monotonic()
        for channel in [c for c, since in self.idle_since.items() if now - since > LINGER_SECONDS]:
            del self.idle_since[channel]
        return {*self.subscribers, *self.idle_since}

    def subscribed_symbols(self) -> list[str]:
        """Symbols some local socket listens to (the feed keeps tracking them)."""
        return [channel_symbol(channel) for channel, members in self.subscribers.items()
                if is_asset_channel(channel) and members]

    def update_channels(self) -> list[str]:
        """Routed asset and portfolio channels (the ones with snapshots)."""
        return [channel for channel in self.subscribers if channel_kind(channel) is not None]

    # ---- resume buffers -------------------------------------------------------------------------

    def open_buffers(self, added: set[str], removed: set[str]) -> None:
        """Fresh buffers for newly heard channels (no gap is covered before now); none for dropped ones."""
        for channel in added:
            if channel_kind(channel) is not None:
                self.buffers[channel] = ResumeBuffer(self.buffer_size)
        for channel in removed:
            self.buffers.pop(channel, None)

    def replay(self, channel: str, last_seq: int) -> list[Update] | None:
        """Buffered updates after `last_seq`, or None when the buffer cannot cover the gap."""
        buffer = self.buffers.get(channel)
        return None if buffer is None else buffer.since(last_seq)

    # ---- delivery -------------------------------------------------------------------------------

    def deliver(self, update: Update) -> None:
        """A channel update: buffered for resume, then to every subscriber."""
        buffer = self.buffers.get(update.channel)
        if buffer is not None:
            buffer.append(update)
        self.fan_out(self.subscribers.get(update.channel, ()), lambda c: c.deliver(update), update.kind,
                     update.published_at)

    def to_channel(self, channel: str, text: str, kind: str, frame: bytes, published_at: float | None) -> None:
        """A ready frame to the subscribers of `channel` (user messages)."""
        self.fan_out(self.subscribers.get(channel, ()),
                     lambda c: c.push(text, kind, None, published_at, frame=frame), kind, published_at)

    def to_everyone(self, text: str, kind: str, key: str, frame: bytes, published_at: float | None = None) -> None:
        """A ready frame to every local socket, conflated under `key` (feed status)."""
        self.fan_out(self.connections.values(),
                     lambda c: c.push(text, kind, key, published_at, frame=frame), kind, published_at)

    def fan_out(self, targets: Iterable[Connection], action: Callable[[Connection], str], kind: str,
                published_at: float | None = None) -> None:
        """Run `action` for every target; what went straight to sockets is counted once for the whole update."""
        written = 0
        for index, connection in enumerate(list(targets), 1):
            try:
                if action(connection) == WRITTEN:
                    written += 1
            except Exception:
                logger.exception("delivery failed", extra={"connection_id": connection.id})
            if index % FANOUT_YIELD == 0:
                gevent.sleep(0)
        if written:
            record_written(kind, written, published_at)

    def close_user(self, user_id: int, wanted: Callable[[Connection], bool], code: int, reason: str) -> None:
        """Close the sockets of `user_id` that `wanted` picks (logout, a revoked token)."""
        for connection in self.user_connections(user_id):
            if wanted(connection):
                connection.close(code, reason)

    def close_all(self, code: int, reason: str) -> None:
        """Close every socket, yielding now and then (shutdown)."""
        for index, connection in enumerate(list(self.connections.values()), 1):
            connection.close(code, reason)
            if index % FANOUT_YIELD == 0:
                gevent.sleep(0)

    def counts(self) -> dict[str, Any]:
        """Connections, users, subscriptions, and traffic of this process's sockets."""
        connections = list(self.connections.values())
        return {
            "connections": len(connections),
            "authenticated_users": len(self.by_user),
            "asset_subscriptions": self.subscription_counts[ASSET],
            "portfolio_subscriptions": self.subscription_counts[PORTFOLIO],
            "messages_sent": sum(connection.sent for connection in connections),
            "messages_dropped": sum(connection.dropped for connection in connections),
        }
