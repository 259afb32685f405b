"""The relay of a web process: one bus listener, and fan-out of what it hears to the local sockets.

Three parts, composed here: the Router (sockets, subscribers, refcounts, linger, resume buffers, fan-out),
the BusState (up or down, what the listener hears, the feed's last word) and the Lifecycle (greenlets,
pings, SIGTERM, the collector). The BusLoop talks to the Relay through the narrow `BusClient` interface
(app.realtime.bus_loop); the stats heartbeat reads `snapshot()`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from functools import partial
from typing import Any

from flask import Flask

from app import metrics
from app.realtime.buffers import ResumeBuffer
from app.realtime.bus_loop import BusLoop
from app.realtime.bus_state import DOWN, BusState
from app.realtime.connection import Connection
from app.realtime.gc_tuning import GcScheduler
from app.realtime.lifecycle import Lifecycle
from app.realtime.pings import PingSchedule
from app.realtime.resync import channel_snapshots
from app.realtime.router import Router
from app.realtime.shared_reads import SharedReads
from app.realtime.socket import open_sockets
from app.realtime.stats import StatsHeartbeat
from app.realtime.tasks import live_tasks, spawn
from app.realtime.updates import Update, channel_kind, make_update, snapshot_update, text_frame
from infra.bus import BusError, BusMessage, get_bus
from infra.settings import get_settings
from protocol.bus import CONTROL_LOGOUT, CONTROL_TOKEN_REVOKED, BusPayload, parse_bus_message
from protocol.channels import FEED_CHANNEL, HEARTBEAT_CHANNEL, channel_user_id, is_user_channel, user_channel
from protocol.client import ASSET_UPDATE, FEED_STATUS
from protocol.codes import UNAUTHORIZED
from protocol.wire import client_envelope

logger = logging.getLogger("pricewire.realtime")

EXTENSION_KEY = "pricewire.relay"


class Relay:
    """Connections register here; the BusLoop feeds dispatch(); updates are enqueued, never written here."""

    def __init__(self, app: Flask) -> None:
        settings = get_settings(app)
        self.app = app
        self.pid = os.getpid()
        self.instance = f"{socket.gethostname()}:{self.pid}"
        self.router = Router(settings.websocket_resume_buffer_size, self._stats_changed)
        self.bus = BusState()
        self.reads = SharedReads(app)  # subscribe's reads, shared by every socket of the process
        self.stats = StatsHeartbeat(app, self.instance, self.router, self.snapshot)
        probe_channel = f"_relay:{self.instance}:{uuid.uuid4().hex[:8]}"
        self.loop = BusLoop(self, get_bus(app), probe_channel, float(settings.websocket_bus_probe_interval))
        self.pings = PingSchedule(float(settings.websocket_heartbeat_interval), float(settings.websocket_pong_timeout))
        # In-process test apps share the interpreter with pytest: only served processes tune its collector.
        gc = GcScheduler(0 if app.testing else float(settings.websocket_gc_freeze_interval),
                         float(settings.websocket_gc_collect_interval))
        self.lifecycle = Lifecycle(self.router, self.loop, self.stats, self.pings, gc)

    def _stats_changed(self) -> None:
        self.stats.mark_dirty()

    # ---- lifecycle ------------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the background work on first use."""
        self.lifecycle.ensure_started()

    def stop(self) -> None:
        """Stop listening (tests, shutdown)."""
        self.lifecycle.stop()

    def going_away(self) -> None:
        """The process is stopping: 1001 to every socket (and to any accepted from now on)."""
        self.lifecycle.going_away()

    @property
    def stopping(self) -> bool:
        """SIGTERM came: a socket accepted now is closed 1001 at once."""
        return self.lifecycle.stopping

    # ---- sockets (socket greenlets; never block, never do IO) -----------------------------------

    def register(self, connection: Connection) -> int:
        """A socket was accepted: it also gets its user's channel (logout, notifications); see subscribe()."""
        self.router.add(connection)
        self.pings.add(connection.id)
        generation = self.subscribe(connection, user_channel(connection.user_id))
        metrics.connections.set(len(self.router.connections))
        return generation

    def unregister(self, connection: Connection) -> None:
        """A socket ended: drop it from every channel."""
        if not self.router.discard(connection):
            return
        for subscription in connection.subscriptions.values():
            metrics.subscriptions.labels(subscription.kind).dec()
        metrics.connections.set(len(self.router.connections))

    def subscribe(self, connection: Connection, channel: str) -> int:
        """Route `channel` to `connection`; a generation for wait_applied() (0: already listening)."""
        self.router.route(connection, channel)
        return self.bus.request(channel)

    def unsubscribe(self, connection: Connection, channel: str) -> None:
        """Stop routing `channel` to `connection` (the listener lingers on it for a while)."""
        self.router.unroute(connection, channel)

    def wait_applied(self, generation: int, timeout: float = 2.0) -> bool:
        """Block this greenlet until the listener subscribed everything asked for up to `generation`."""
        return self.bus.wait_applied(generation, timeout)

    def replay(self, channel: str, last_seq: int) -> list[Update] | None:
        """Updates after `last_seq`: this process's buffer, else the bus's kept history; None if neither covers.

        The kept history serves a client that was on another process, or one this process subscribed too late.
        """
        missed = self.router.replay(channel, last_seq)
        return missed if missed is not None else self._replay_kept(channel, last_seq)

    def _replay_kept(self, channel: str, last_seq: int) -> list[Update] | None:
        try:
            texts = get_bus(self.app).recent(channel)
        except BusError as exc:
            logger.info("resume history unavailable", extra={"channel": channel, "error": str(exc)})
            return None
        kept: ResumeBuffer[Update] = ResumeBuffer(max(len(texts), 1))
        for text in texts:
            try:
                payload = parse_bus_message(text)
            except ValueError:
                continue  # since() refuses to bridge the hole this leaves
            kept.append(make_update(channel, payload.type, payload.data, None, payload.published_at))
        return kept.since(last_seq)

    def user_connections(self, user_id: int) -> list[Connection]:
        """The open sockets of one user in this process."""
        return self.router.user_connections(user_id)

    def degraded_notice(self) -> str | None:
        """The feed_status a new socket should see first, if any."""
        return self.bus.degraded_notice()

    # ---- the BusLoop's interface (bus_loop.BusClient) -------------------------------------------

    @property
    def requested(self) -> int:
        """The newest generation asked for."""
        return self.bus.requested

    @property
    def applied(self) -> int:
        """The newest generation the listener applied."""
        return self.bus.applied

    def wanted_channels(self) -> set[str]:
        """What the listener should hear: feed, heartbeat, every routed channel, recently idle ones."""
        return {FEED_CHANNEL, HEARTBEAT_CHANNEL, *self.router.wanted_channels()}

    @property
    def listened(self) -> set[str]:
        """The channels the listener hears now; none while the bus is down.

        A reconnect attempt subscribes before its probe proves the bus delivers (a frozen Redis accepts the
        subscription): until then nothing it subscribed vouches for a remembered snapshot.
        """
        return set() if self.bus.state == DOWN else self.bus.listened

    def listening(self, added: set[str], removed: set[str], generation: int) -> None:
        """The listener now hears `added` (fresh buffers: no gap is covered before now) and not `removed`."""
        self.router.open_buffers(added, removed)
        self.reads.forget(removed)
        self.bus.listening(added, removed, generation)

    def dispatch(self, message: BusMessage) -> None:
        """One bus message: control, heartbeat, channel update, feed status or user message."""
        channel = message.channel
        try:
            payload = parse_bus_message(message.data)
        except ValueError:
            metrics.messages_dropped.labels("invalid").inc()
            logger.warning("invalid bus message", extra={"channel": channel})
            return
        if payload.published_at is not None:
            metrics.relay_lag.set(max(0.0, time.time() - payload.published_at))
        if channel == HEARTBEAT_CHANNEL:
            self.bus.heard_heartbeat()
        elif payload.type.startswith("_"):  # control messages never reach clients
            self._control(channel, payload)
        elif channel_kind(channel) is not None:
            update = make_update(channel, payload.type, payload.data, None, payload.published_at)
            if update.kind == ASSET_UPDATE and channel in self.bus.listened:
                self.reads.heard(channel, payload.data)
            self.router.deliver(update)
        else:
            self._broadcast(channel, payload)

    def _control(self, channel: str, payload: BusPayload) -> None:
        if not is_user_channel(channel):
            return
        user_id = channel_user_id(channel)
        if payload.type == CONTROL_LOGOUT:
            # Only browser sessions end with a logout; token clients end when their token is revoked.
            self.router.close_user(user_id, lambda c: c.identity.method == "session", UNAUTHORIZED, "logged out")
        elif payload.type == CONTROL_TOKEN_REVOKED:
            token_hash = str(payload.data.get("token_hash"))
            self.router.close_user(
                user_id, lambda c: c.identity.method == "token" and c.identity.token_hash == token_hash,
                UNAUTHORIZED, "token revoked")

    def _broadcast(self, channel: str, payload: BusPayload) -> None:
        """Feed status to every socket, a user message to that user's: serialized once (connection_id null)."""
        text = client_envelope(payload.type, payload.data)
        frame = text_frame(text)
        if channel == FEED_CHANNEL:
            if payload.type == FEED_STATUS:
                self.bus.heard_feed_status(str(payload.data.get("status", "")), text)
            self.router.to_everyone(text, payload.type, FEED_CHANNEL, frame, payload.published_at)
        elif is_user_channel(channel):
            self.router.to_channel(channel, text, payload.type, frame, payload.published_at)

    def mark_down(self, reason: str) -> None:
        """The bus failed: tell every socket once; buffers are void (what was missed is unknown)."""
        self.router.buffers.clear()
        self.reads.forget()
        changed = self.bus.went_down()
        self.stats.mark_dirty()
        if changed:
            logger.warning("bus down", extra={"reason": reason})
            self._status_to_everyone(self.bus.degraded_broadcast())

    def mark_up(self) -> None:
        """The bus works (again): after an outage, say so and send fresh state for every subscription."""
        recovered = self.bus.came_up()
        self.stats.mark_dirty()
        if recovered:
            logger.info("bus recovered")
            self._status_to_everyone(self.bus.recovered_notice())
            spawn(self._refresh_snapshots, name="relay-refresh")

    def _status_to_everyone(self, text: str) -> None:
        self.router.to_everyone(text, FEED_STATUS, FEED_CHANNEL, text_frame(text))

    def _refresh_snapshots(self) -> None:
        channels = self.router.update_channels()
        if not channels:
            return
        with self.app.app_context():
            snapshots = channel_snapshots(channels)
        for channel, data in snapshots.items():
            update = snapshot_update(channel, data)  # one frame for all: connection_id is null
            self.router.fan_out(self.router.subscribers.get(channel, ()),
                                partial(Connection.deliver_snapshot, update=update), update.kind)

    # ---- stats ----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """This process's numbers (for /metrics, the cluster heartbeat and `flask ws monitor`)."""
        return {
            "instance": self.instance,
            "pid": self.pid,
            **self.router.counts(),
            **self.bus.snapshot(),
            "bus_messages_received": self.loop.received,
            "bus_connects": self.loop.connects,
            "greenlets": live_tasks(),
            "open_sockets": open_sockets(),
            "updated_at": time.time(),
        }


def close_all_sockets(app: Flask) -> None:
    """Before this process stops: 1001 to every socket of its relay, if one runs here."""
    relay: Relay | None = app.extensions.get(EXTENSION_KEY)
    if relay is not None and relay.pid == os.getpid():
        relay.going_away()


def get_relay(app: Flask) -> Relay:
    """The relay of `app` in this process, created and started on first use (and again after a fork)."""
    relay: Relay | None = app.extensions.get(EXTENSION_KEY)
    if relay is None or relay.pid != os.getpid():
        relay = Relay(app)
        app.extensions[EXTENSION_KEY] = relay
    relay.ensure_started()
    return relay
