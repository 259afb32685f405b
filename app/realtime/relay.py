"""The relay of a web process: one bus listener, refcounted channels, fan-out to local sockets, resume buffers."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import gevent
import gevent.event
from flask import Flask

from app import metrics
from app.realtime.buffers import ResumeBuffer
from app.realtime.bus_loop import OP_TIMEOUT, BusLoop
from app.realtime.connection import WRITTEN, Connection, record_written
from app.realtime.gc_tuning import GcScheduler
from app.realtime.pings import PingSchedule
from app.realtime.resync import channel_snapshots
from app.realtime.stats import StatsHeartbeat, relay_stats
from app.realtime.tasks import spawn
from app.realtime.updates import Update, channel_kind, make_update, snapshot_update, text_frame
from infra.bus import BusError, BusMessage, get_bus
from protocol.bus import CONTROL_LOGOUT, CONTROL_TOKEN_REVOKED, FEED_DEGRADED, FEED_RECOVERED, parse_bus_message
from protocol.channels import FEED_CHANNEL, HEARTBEAT_CHANNEL, channel_user_id, is_user_channel, user_channel
from protocol.client import FEED_STATUS
from protocol.codes import CLOSE_GOING_AWAY, UNAUTHORIZED
from protocol.wire import client_envelope

logger = logging.getLogger("pricewire.realtime")

EXTENSION_KEY = "pricewire.relay"
LINGER_SECONDS = 60.0  # keep an unwanted channel (and its resume buffer) this long for reconnecting clients
FANOUT_YIELD = 256  # let writers run after this many deliveries
PING_TICK_SECONDS = 1.0
HEALTHY_FEED_STATES = frozenset({"ok", "healthy", "recovered", "running", ""})


class Relay:
    """Connections register here; the BusLoop feeds dispatch(); updates are enqueued, never written here."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pid = os.getpid()
        self.instance = f"{socket.gethostname()}:{self.pid}"
        self.buffer_size = int(app.config["WEBSOCKET_RESUME_BUFFER_SIZE"])
        self.connections: dict[str, Connection] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self.subscribers: dict[str, set[Connection]] = {}
        self.idle_since: dict[str, float] = {}
        self.buffers: dict[str, ResumeBuffer[Update]] = {}
        self.listened: set[str] = set()
        self.subscription_counts = {"asset": 0, "portfolio": 0}  # (connection, channel) pairs by kind
        self.dirty_users: set[int] = set()  # whose connection list changed since the last stats write
        self.bus_state = "starting"  # "up" | "down"
        self.last_worker_heartbeat: float | None = None
        self.last_feed_status: tuple[str, str] | None = None  # (status, frame) of the feed's latest word
        self.requested = 0
        self.applied = 0
        self._applied_event = gevent.event.Event()
        probe_channel = f"_relay:{self.instance}:{uuid.uuid4().hex[:8]}"
        self.loop = BusLoop(self, get_bus(app), probe_channel, float(app.config["WEBSOCKET_BUS_PROBE_INTERVAL"]))
        self.greenlet: gevent.Greenlet | None = None
        self.stats = StatsHeartbeat(self)
        self.pings = PingSchedule(float(app.config["WEBSOCKET_HEARTBEAT_INTERVAL"]),
                                  float(app.config["WEBSOCKET_PONG_TIMEOUT"]))
        self.pinger: gevent.Greenlet | None = None
        self.stopping = False  # SIGTERM came: new sockets are told 1001 too
        # In-process test apps share the interpreter with pytest: only served processes tune its collector.
        self.gc = GcScheduler(0 if app.testing else float(app.config["WEBSOCKET_GC_FREEZE_INTERVAL"]),
                              float(app.config["WEBSOCKET_GC_COLLECT_INTERVAL"]))

    # ---- lifecycle ------------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the listener greenlet (and the stats heartbeat) on first use."""
        if self.greenlet is None or self.greenlet.dead:
            self.greenlet = spawn(self.loop.run, name="relay")
            self.pinger = spawn(self._ping_all, name="relay-pings")
            self.stats.start()
            self.gc.start()
            self._close_sockets_on_sigterm()

    def stop(self) -> None:
        """Stop listening (tests, shutdown)."""
        self.loop.stopped = True
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=OP_TIMEOUT)
        if self.pinger is not None:
            self.pinger.kill(block=True, timeout=OP_TIMEOUT)
        self.loop.drop_listener()
        self.stats.stop()
        self.gc.stop()

    def going_away(self) -> None:
        """The process is stopping: close every socket with 1001, so clients reconnect (and resume) elsewhere now.

        From here on a socket accepted before the server stops listening is closed 1001 at once (see
        ws.routes): it would otherwise be cut without a close frame when the graceful timeout ends."""
        self.stopping = True
        logger.info("server shutting down: closing sockets", extra={"connections": len(self.connections)})
        for index, connection in enumerate(list(self.connections.values()), 1):
            connection.close(CLOSE_GOING_AWAY, "server shutting down")
            if index % FANOUT_YIELD == 0:
                gevent.sleep(0)

    def _close_sockets_on_sigterm(self) -> None:
        """gunicorn's graceful stop (SIGTERM) waits for requests to end, and a socket never ends on its own:
        say 1001 to every socket first, then let gunicorn's handler run. Not installed without a server's handler."""
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous) or getattr(previous, "pricewire_relay", False):
            return

        def on_sigterm(signum: int, frame: Any) -> None:
            spawn(self.going_away, name="relay-going-away")
            previous(signum, frame)

        on_sigterm.pricewire_relay = True  # type: ignore[attr-defined]
        with contextlib.suppress(ValueError):  # not the main thread: leave the server's handling alone
            signal.signal(signal.SIGTERM, on_sigterm)

    def _ping_all(self) -> None:
        """One timer for every socket's pings (see PingSchedule): never a socket pinged twice in an interval."""
        tick = min(PING_TICK_SECONDS, self.pings.interval, self.pings.pong_timeout)
        while True:
            gevent.sleep(tick)
            for index, _ in enumerate(self.pings.run_due(self.connections.get), 1):
                if index % FANOUT_YIELD == 0:
                    gevent.sleep(0)

    # ---- connections (socket greenlets; never block, never do IO) -------------------------------

    def register(self, connection: Connection) -> int:
        """A socket was accepted: it also gets its user's channel (logout, notifications); see subscribe()."""
        self.connections[connection.id] = connection
        self.by_user.setdefault(connection.user_id, set()).add(connection)
        self.pings.add(connection.id)
        generation = self.subscribe(connection, user_channel(connection.user_id))
        metrics.connections.set(len(self.connections))
        return generation

    def unregister(self, connection: Connection) -> None:
        """A socket ended: drop it from every channel."""
        if self.connections.pop(connection.id, None) is None:
            return
        for channel in [*connection.subscriptions, user_channel(connection.user_id)]:
            self._remove(channel, connection)
        for subscription in connection.subscriptions.values():
            metrics.subscriptions.labels(subscription.kind).dec()
        users = self.by_user.get(connection.user_id)
        if users is not None:
            users.discard(connection)
            if not users:
                del self.by_user[connection.user_id]
        metrics.connections.set(len(self.connections))
        self._changed(connection)

    def _changed(self, connection: Connection) -> None:
        self.dirty_users.add(connection.user_id)
        self.stats.mark_dirty()

    def subscribe(self, connection: Connection, channel: str) -> int:
        """Route `channel` to `connection`; a generation for wait_applied() (0: already listening)."""
        members = self.subscribers.setdefault(channel, set())
        kind = channel_kind(channel)
        if kind is not None and connection not in members:
            self.subscription_counts[kind] += 1
        members.add(connection)
        self.idle_since.pop(channel, None)
        self._changed(connection)
        if channel in self.listened or self.bus_state == "down":
            return 0
        self.requested += 1
        return self.requested

    def unsubscribe(self, connection: Connection, channel: str) -> None:
        """Stop routing `channel` to `connection` (the listener lingers on it for a while)."""
        self._remove(channel, connection)
        self._changed(connection)

    def wait_applied(self, generation: int, timeout: float = 2.0) -> bool:
        """Block this greenlet until the listener subscribed everything asked for up to `generation`."""
        deadline = time.monotonic() + timeout
        while self.applied < generation and self.bus_state != "down":
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._applied_event.wait(remaining):
                return False
        return True

    def replay(self, channel: str, last_seq: int) -> list[Update] | None:
        """Updates after `last_seq`: this process's buffer (fast path), else the bus's kept history (the client
        was on another process, or this one subscribed too late); None when neither covers the gap."""
        buffer = self.buffers.get(channel)
        missed = None if buffer is None else buffer.since(last_seq)
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

    # ---- called by the BusLoop --------------------------------------------------------------------

    def wanted_channels(self) -> set[str]:
        """What the listener should hear: feed, heartbeat, every routed channel, recently idle ones."""
        now = time.monotonic()
        for channel in [c for c, since in self.idle_since.items() if now - since > LINGER_SECONDS]:
            del self.idle_since[channel]
        return {FEED_CHANNEL, HEARTBEAT_CHANNEL, *self.subscribers, *self.idle_since}

    def listening(self, added: set[str], removed: set[str], generation: int) -> None:
        """The listener now hears `added` (fresh buffers: no gap is covered before now) and not `removed`."""
        for channel in added:
            if channel_kind(channel) is not None:
                self.buffers[channel] = ResumeBuffer(self.buffer_size)
        for channel in removed:
            self.buffers.pop(channel, None)
        self.listened = (self.listened | added) - removed
        self._set_applied(generation)

    def _set_applied(self, generation: int) -> None:
        self.applied = max(self.applied, generation)
        event, self._applied_event = self._applied_event, gevent.event.Event()
        event.set()

    def dispatch(self, message: BusMessage) -> None:
        """One bus message: control, feed status, user message or channel update."""
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
            self.last_worker_heartbeat = time.time()
            return
        if payload.type.startswith("_"):  # control messages never reach clients
            if payload.type == CONTROL_LOGOUT and is_user_channel(channel):
                self._logout(channel_user_id(channel))
            elif payload.type == CONTROL_TOKEN_REVOKED and is_user_channel(channel):
                self._token_revoked(channel_user_id(channel), str(payload.data.get("token_hash")))
            return
        if channel_kind(channel) is not None:
            update = make_update(channel, payload.type, payload.data, None, payload.published_at)
            buffer = self.buffers.get(channel)
            if buffer is not None:
                buffer.append(update)
            self._fan_out(self.subscribers.get(channel, ()), lambda c: c.deliver(update), update.kind,
                          update.published_at)
            return
        # Serialised once for every local socket: connection_id is null.
        text = client_envelope(payload.type, payload.data)
        frame = text_frame(text)
        if channel == FEED_CHANNEL:
            if payload.type == FEED_STATUS:
                self.last_feed_status = (str(payload.data.get("status", "")), text)
            self._fan_out(self.connections.values(),
                          lambda c: c.push(text, payload.type, FEED_CHANNEL, payload.published_at, frame=frame),
                          payload.type, payload.published_at)
        elif is_user_channel(channel):
            self._fan_out(self.subscribers.get(channel, ()),
                          lambda c: c.push(text, payload.type, None, payload.published_at, frame=frame),
                          payload.type, payload.published_at)

    def _fan_out(self, targets: Iterable[Connection], action: Callable[[Connection], str], kind: str,
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

    def _logout(self, user_id: int) -> None:
        # Only browser sessions end with a logout; token clients end when their token is revoked.
        for connection in list(self.by_user.get(user_id, ())):
            if connection.identity.method == "session":
                connection.close(UNAUTHORIZED, "logged out")

    def _token_revoked(self, user_id: int, token_hash: str) -> None:
        for connection in list(self.by_user.get(user_id, ())):
            if connection.identity.method == "token" and connection.identity.token_hash == token_hash:
                connection.close(UNAUTHORIZED, "token revoked")

    # ---- bus state ---------------------------------------------------------------------------------

    @staticmethod
    def _feed_status(status: str, message: str) -> str:
        return client_envelope(FEED_STATUS, {"status": status, "source": "relay", "message": message})

    def degraded_notice(self) -> str | None:
        """The feed_status a new socket should see first: the bus is down, or the feed's last word was bad."""
        if self.bus_state == "down":
            return self._feed_status(FEED_DEGRADED, "live updates are interrupted; reconnecting to the bus")
        if self.last_feed_status is not None and self.last_feed_status[0] not in HEALTHY_FEED_STATES:
            return self.last_feed_status[1]
        return None

    def mark_down(self, reason: str) -> None:
        """The bus failed: tell every socket once; buffers are void (what was missed is unknown)."""
        previous, self.bus_state = self.bus_state, "down"
        self.listened = set()
        self.buffers.clear()
        self._set_applied(self.requested)
        self.stats.mark_dirty()
        if previous == "down":
            return
        logger.warning("bus down", extra={"reason": reason})
        text = self._feed_status(FEED_DEGRADED, "live updates are interrupted; reconnecting to the bus")
        self._broadcast_status(text)

    def mark_up(self) -> None:
        """The bus works (again): after an outage, say so and send fresh state for every subscription."""
        previous, self.bus_state = self.bus_state, "up"
        self.stats.mark_dirty()
        if previous != "down":
            return
        logger.info("bus recovered")
        self._broadcast_status(self._feed_status(FEED_RECOVERED, "live updates resumed"))
        spawn(self._refresh_snapshots, name="relay-refresh")

    def _broadcast_status(self, text: str) -> None:
        frame = text_frame(text)
        self._fan_out(self.connections.values(), lambda c: c.push(text, FEED_STATUS, FEED_CHANNEL, frame=frame),
                      FEED_STATUS)

    def _refresh_snapshots(self) -> None:
        channels = [channel for channel in self.subscribers if channel_kind(channel) is not None]
        if not channels:
            return
        with self.app.app_context():
            snapshots = channel_snapshots(channels)
        for channel, data in snapshots.items():
            update = snapshot_update(channel, data)  # one frame for all: connection_id is null
            self._fan_out(self.subscribers.get(channel, ()), partial(Connection.deliver_snapshot, update=update),
                          update.kind)

    def local_stats(self) -> dict[str, Any]:
        """This process's numbers (for /metrics and the cluster heartbeat)."""
        return relay_stats(self)


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
