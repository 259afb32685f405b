"""The one bus listener of a web process: refcounted subscriptions, fan-out, resume buffers, reconnects."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterable
from typing import Any

import gevent
import gevent.event
from flask import Flask

from app import metrics
from app.realtime.buffers import ResumeBuffer
from app.realtime.connection import Connection
from app.realtime.snapshots import channel_snapshots
from app.realtime.stats import StatsHeartbeat
from app.realtime.tasks import spawn
from app.realtime.updates import Update, channel_kind, make_update, snapshot_update
from models.bus import BusError, BusMessage, Listener, get_bus
from models.messages import (
    CONTROL_LOGOUT,
    FEED_CHANNEL,
    FEED_DEGRADED,
    FEED_RECOVERED,
    FEED_STATUS,
    HEARTBEAT_CHANNEL,
    UNAUTHORIZED,
    USER_CHANNEL_PREFIX,
    client_envelope,
    parse_bus_message,
    user_channel,
)

logger = logging.getLogger("pricewire.realtime")

EXTENSION_KEY = "pricewire.relay"
TICK = 0.02  # how long one listener read waits, so new subscriptions are applied within ~20 ms
OP_TIMEOUT = 5.0  # any single bus operation; a silent Redis must not hang the relay
LINGER_SECONDS = 60.0  # keep an unwanted channel (and its resume buffer) this long for reconnecting clients
BACKOFF_BASE, BACKOFF_CAP = 0.5, 15.0
SILENT_PROBES = 3  # no message at all for this many probe periods: the bus is silently dead
FANOUT_YIELD = 256  # let writers run after this many deliveries
HEALTHY_FEED_STATES = frozenset({"ok", "healthy", "recovered", "running", ""})


class Relay:
    """Owns the process's single bus Listener; connections register here and get updates enqueued."""

    def __init__(self, app: Flask) -> None:
        config = app.config
        self.app = app
        self.bus = get_bus(app)
        self.pid = os.getpid()
        self.instance = f"{socket.gethostname()}:{self.pid}"
        self.probe_channel = f"_relay:{self.instance}:{uuid.uuid4().hex[:8]}"
        self.buffer_size = int(config["WEBSOCKET_RESUME_BUFFER_SIZE"])
        self.probe_interval = float(config.get("WEBSOCKET_BUS_PROBE_INTERVAL", 5))
        self.connections: dict[str, Connection] = {}
        self.by_user: dict[int, set[Connection]] = {}
        self.subscribers: dict[str, set[Connection]] = {}
        self.idle_since: dict[str, float] = {}
        self.buffers: dict[str, ResumeBuffer[Update]] = {}
        self.active: set[str] = set()
        self.permanent = frozenset({FEED_CHANNEL, HEARTBEAT_CHANNEL, self.probe_channel})
        self.bus_state = "starting"  # "up" | "down"
        self.received = 0
        self.reconnects = 0
        self.last_rx = time.monotonic()
        self.last_probe_echo = 0.0
        self.last_worker_heartbeat: float | None = None
        self.last_feed_status: tuple[str, str] | None = None  # (status, frame) of the feed's latest feed_status
        self.greenlet: gevent.Greenlet | None = None
        self.stats = StatsHeartbeat(self)
        self._listener: Listener | None = None
        self._requested = 0
        self._applied = 0
        self._applied_event = gevent.event.Event()
        self._stopped = False
        self._last_probe = 0.0
        self._next_linger_check = 0.0

    # ---- lifecycle -----------------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the listener greenlet (and the stats heartbeat) on first use."""
        if self.greenlet is None or self.greenlet.dead:
            self.greenlet = spawn(self._run, name="relay")
            self.stats.start()

    def stop(self) -> None:
        """Stop listening (tests, shutdown)."""
        self._stopped = True
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=OP_TIMEOUT)
        self.stats.stop()
        self._drop_listener()

    @property
    def bus_ok(self) -> bool:
        """False while the bus is known to be down."""
        return self.bus_state != "down"

    # ---- connections (called from socket greenlets; never block) -------------------------------

    def register(self, connection: Connection) -> None:
        """A socket was accepted: route its user's channel to it."""
        self.connections[connection.id] = connection
        self.by_user.setdefault(connection.user_id, set()).add(connection)
        self.subscribe(connection, user_channel(connection.user_id))  # no wait: logouts are rare
        metrics.connections.set(len(self.connections))

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
        self.stats.mark_dirty()

    def subscribe(self, connection: Connection, channel: str) -> int:
        """Route `channel` to `connection`; returns a generation to wait_applied() on (0: nothing to wait for)."""
        self._add(channel, connection)
        self.stats.mark_dirty()
        if channel in self.active or self.bus_state == "down":
            return 0
        self._requested += 1
        return self._requested

    def unsubscribe(self, connection: Connection, channel: str) -> None:
        """Stop routing `channel` to `connection`."""
        self._remove(channel, connection)
        self.stats.mark_dirty()

    def wait_applied(self, generation: int, timeout: float = 2.0) -> bool:
        """Block this greenlet until the listener has subscribed everything asked up to `generation`."""
        deadline = time.monotonic() + timeout
        while self._applied < generation and self.bus_state != "down":
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._applied_event.wait(remaining):
                return False
        return True

    def replay(self, channel: str, last_seq: int) -> list[Update] | None:
        """Buffered updates after `last_seq`, or None when the buffer does not cover the gap."""
        buffer = self.buffers.get(channel)
        return None if buffer is None else buffer.since(last_seq)

    def _add(self, channel: str, connection: Connection) -> None:
        self.subscribers.setdefault(channel, set()).add(connection)
        self.idle_since.pop(channel, None)

    def _remove(self, channel: str, connection: Connection) -> None:
        members = self.subscribers.get(channel)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del self.subscribers[channel]
            self.idle_since[channel] = time.monotonic()

    # ---- the listener greenlet --------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stopped:
            try:
                self._connect()
                attempt = 0
                self._serve()
            except BusError as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # a bug must not end live delivery for the whole process
                logger.exception("relay failed")
                reason = f"relay error: {exc}"
            else:
                return
            self._drop_listener()
            self._mark_down(reason)
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 10))
            attempt += 1
            gevent.sleep(delay / 2 + random.random() * delay / 2)

    def _op(self, function: Any, *args: Any) -> Any:
        timer = gevent.Timeout(OP_TIMEOUT)
        timer.start()
        try:
            return function(*args)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise BusError(f"bus operation timed out after {OP_TIMEOUT}s") from None
        finally:
            timer.close()

    def _connect(self) -> None:
        self._listener = self._op(self.bus.listener)
        self.active = set()
        self._reconcile()
        started = time.monotonic()
        self._probe(synchronous=True)
        # The path works only once our own probe comes back through the listener.
        while self.last_probe_echo < started:
            if time.monotonic() - started > OP_TIMEOUT:
                raise BusError("bus accepted the subscription but delivers nothing")
            self._receive()
        self.reconnects += 1
        self._mark_up()

    def _serve(self) -> None:
        handled = 0
        while not self._stopped:
            now = time.monotonic()
            if self._requested != self._applied or (self.idle_since and now >= self._next_linger_check):
                self._next_linger_check = now + 1.0
                self._reconcile()
            if now - self._last_probe >= self.probe_interval:
                self._probe(synchronous=False)
            if now - self.last_rx > SILENT_PROBES * self.probe_interval:
                raise BusError(f"bus silent for {now - self.last_rx:.1f}s")
            if self._receive():
                handled += 1
                if handled % 64 == 0:
                    gevent.sleep(0)  # a flood must not starve the writers

    def _receive(self) -> bool:
        assert self._listener is not None
        message = self._op(self._listener.get, TICK)
        if message is None:
            return False
        self.last_rx = time.monotonic()
        self.received += 1
        try:
            self._handle(message)
        except Exception:
            logger.exception("relay could not handle a message", extra={"channel": message.channel})
        return True

    def _wanted(self) -> set[str]:
        now = time.monotonic()
        lingering = {channel for channel, since in self.idle_since.items() if now - since <= LINGER_SECONDS}
        for channel in [channel for channel in self.idle_since if channel not in lingering]:
            del self.idle_since[channel]
        return set(self.permanent) | set(self.subscribers) | lingering

    def _reconcile(self) -> None:
        assert self._listener is not None
        generation = self._requested
        wanted = self._wanted()
        added, removed = wanted - self.active, self.active - wanted
        if added:
            self._op(self._listener.subscribe, *sorted(added))
            for channel in added:
                self.buffers[channel] = ResumeBuffer(self.buffer_size)
        if removed:
            self._op(self._listener.unsubscribe, *sorted(removed))
            for channel in removed:
                self.buffers.pop(channel, None)
        self.active = wanted
        self._set_applied(generation)

    def _set_applied(self, generation: int) -> None:
        self._applied = max(self._applied, generation)
        event, self._applied_event = self._applied_event, gevent.event.Event()
        event.set()

    def _probe(self, synchronous: bool) -> None:
        self._last_probe = time.monotonic()
        if synchronous:
            self._op(self.bus.publish, self.probe_channel, "probe")
        else:
            spawn(self._probe_quietly, name="relay-probe")

    def _probe_quietly(self) -> None:
        try:
            self._op(self.bus.publish, self.probe_channel, "probe")
        except BusError as exc:
            logger.info("relay probe failed", extra={"error": str(exc)})

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may fail any way
                self._op(listener.close)

    # ---- messages ---------------------------------------------------------------------------------

    def _handle(self, message: BusMessage) -> None:
        channel = message.channel
        if channel == self.probe_channel:
            self.last_probe_echo = time.monotonic()
            return
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
            if payload.type == CONTROL_LOGOUT and channel.startswith(USER_CHANNEL_PREFIX):
                self._logout(channel)
            return
        if channel == FEED_CHANNEL:
            text = client_envelope(payload.type, payload.data)
            if payload.type == FEED_STATUS:
                self.last_feed_status = (str(payload.data.get("status", "")), text)
            self._fan_out(list(self.connections.values()), lambda c: c.push(text, payload.type, FEED_CHANNEL,
                                                                             payload.published_at))
        elif channel.startswith(USER_CHANNEL_PREFIX):
            text = client_envelope(payload.type, payload.data)
            self._fan_out(list(self.subscribers.get(channel, ())),
                          lambda c: c.push(text, payload.type, None, payload.published_at))
        elif channel_kind(channel) is not None:
            update = make_update(channel, payload.type, payload.data, None, payload.published_at)
            buffer = self.buffers.get(channel)
            if buffer is not None:
                buffer.append(update)
            self._fan_out(list(self.subscribers.get(channel, ())), lambda c: c.deliver(update))

    def _fan_out(self, targets: Iterable[Connection], action: Any) -> None:
        for index, connection in enumerate(targets, 1):
            try:
                action(connection)
            except Exception:
                logger.exception("delivery failed", extra={"connection_id": connection.id})
            if index % FANOUT_YIELD == 0:
                gevent.sleep(0)

    def _logout(self, channel: str) -> None:
        user_id = int(channel[len(USER_CHANNEL_PREFIX):])
        for connection in list(self.by_user.get(user_id, ())):
            if connection.identity.method == "session":
                connection.close(UNAUTHORIZED, "logged out")

    # ---- bus state ---------------------------------------------------------------------------------

    def _feed_status(self, status: str, message: str) -> str:
        return client_envelope(FEED_STATUS, {"status": status, "source": "relay", "message": message})

    def degraded_notice(self) -> str | None:
        """The feed_status a new connection should see first: the bus is down, or the feed's last word was bad."""
        if self.bus_state == "down":
            return self._feed_status(FEED_DEGRADED, "live updates are interrupted; reconnecting to the bus")
        if self.last_feed_status is not None and self.last_feed_status[0] not in HEALTHY_FEED_STATES:
            return self.last_feed_status[1]
        return None

    def _mark_down(self, reason: str) -> None:
        previous, self.bus_state = self.bus_state, "down"
        self.active = set()
        self.buffers.clear()  # what was missed while down is unknown: resume falls back to snapshots
        self._set_applied(self._requested)
        if previous != "down":
            logger.warning("bus down", extra={"reason": reason})
            text = self._feed_status(FEED_DEGRADED, "live updates are interrupted; reconnecting to the bus")
            self._fan_out(list(self.connections.values()), lambda c: c.push(text, FEED_STATUS, FEED_CHANNEL))
        self.stats.mark_dirty()

    def _mark_up(self) -> None:
        previous, self.bus_state = self.bus_state, "up"
        self.stats.mark_dirty()
        if previous != "down":
            return
        logger.info("bus recovered")
        text = self._feed_status(FEED_RECOVERED, "live updates resumed")
        self._fan_out(list(self.connections.values()), lambda c: c.push(text, FEED_STATUS, FEED_CHANNEL))
        spawn(self._refresh_snapshots, name="relay-refresh")

    def _refresh_snapshots(self) -> None:
        """Fresh state for every subscribed channel after an outage, read once per channel."""
        channels = [channel for channel in self.subscribers if channel_kind(channel) is not None]
        if not channels:
            return
        with self.app.app_context():
            snapshots = channel_snapshots(channels)
        for channel, data in snapshots.items():
            update = snapshot_update(channel, data)
            self._fan_out(list(self.subscribers.get(channel, ())), lambda c, u=update: c.deliver_snapshot(u))

    # ---- stats -------------------------------------------------------------------------------------

    def local_stats(self) -> dict[str, Any]:
        """This process's numbers (for /metrics and the cluster heartbeat)."""
        from app.realtime.socket import live_socket_threads
        from app.realtime.tasks import live_tasks

        assets = sum(1 for c in self.connections.values() for ch in c.subscriptions if ch.startswith("asset:"))
        portfolios = sum(1 for c in self.connections.values() for ch in c.subscriptions if ch.startswith("portfolio:"))
        return {
            "instance": self.instance,
            "pid": self.pid,
            "connections": len(self.connections),
            "authenticated_users": len(self.by_user),
            "asset_subscriptions": assets,
            "portfolio_subscriptions": portfolios,
            "channels": len(self.active),
            "bus_state": self.bus_state,
            "bus_messages_received": self.received,
            "bus_connects": self.reconnects,
            "worker_heartbeat_age": None if self.last_worker_heartbeat is None
            else round(time.time() - self.last_worker_heartbeat, 3),
            "messages_sent": sum(c.sent for c in self.connections.values()),
            "messages_dropped": sum(c.dropped for c in self.connections.values()),
            "greenlets": live_tasks(),
            "socket_threads": live_socket_threads(),
            "updated_at": time.time(),
        }


def get_relay(app: Flask) -> Relay:
    """The relay of `app` in this process, created and started on first use (and again after a fork)."""
    relay: Relay | None = app.extensions.get(EXTENSION_KEY)
    if relay is None or relay.pid != os.getpid():
        relay = Relay(app)
        app.extensions[EXTENSION_KEY] = relay
    relay.ensure_started()
    return relay
