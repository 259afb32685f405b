"""One WebSocket's server-side state: subscriptions, the bounded outbound queue and its writer greenlet.

Over 300 lines: the direct write path, the queue, the writer greenlet and the close sequence share one
socket's state and ordering rules (a message is either written now or queued behind the others, never
both); split apart, each piece would reach into the others' attributes. docs/performance.md measures it.
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import gevent
import gevent.event
from simple_websocket import ConnectionClosed

from app import metrics
from app.realtime.buffers import CONFLATED, DROPPED, ConflatingQueue, OutboundEntry
from app.realtime.limits import HOLD, REPLACED, SEND, Subscription
from app.realtime.socket import PING_FRAME
from app.realtime.tasks import spawn
from app.realtime.updates import Update, text_frame
from protocol.client import (
    ASSET_UPDATE,
    CONNECTION,
    ERROR,
    FEED_STATUS,
    NOTIFICATION,
    PONG,
    PORTFOLIO_UPDATE,
    POSITION_UPDATE,
    SUBSCRIBED,
    UNSUBSCRIBED,
    error_data,
)
from protocol.codes import CLOSE_NO_PONG, CLOSE_REASONS, SLOW_CONSUMER
from protocol.wire import client_envelope, iso

logger = logging.getLogger("pricewire.realtime")

_CLOSE = "_close"
_STOP = "_stop"
_PING = "_ping"
WRITTEN = "written"  # push(): on the socket already (the caller counts it, see record_written)
QUEUED = "queued"  # push(): waiting for the writer greenlet
REFUSED = ""  # push(): closing, or dropped because the queue is full
BATCH_BYTES = 64 * 1024
BATCH_MESSAGES = 64
METRIC_TYPES = frozenset({ASSET_UPDATE, PORTFOLIO_UPDATE, POSITION_UPDATE, NOTIFICATION, FEED_STATUS, ERROR,
                          PONG, SUBSCRIBED, UNSUBSCRIBED, CONNECTION})


def _sent_counter(kind: str) -> Any:
    """The messages_sent child of one type (label lookup cached: this runs per message per socket)."""
    label = kind if kind in METRIC_TYPES else "other"
    counter = _SENT_COUNTERS.get(label)
    if counter is None:
        counter = _SENT_COUNTERS[label] = metrics.messages_sent.labels(label)
    return counter


_SENT_COUNTERS: dict[str, Any] = {}


_Reply = tuple[str, str, str | None, float | None, bytes | None]  # push()'s text, kind, key, published_at, frame


def record_written(kind: str, count: int, published_at: float | None) -> None:
    """Count `count` messages of one update written, and its publish-to-write time once (the latest write)."""
    _sent_counter(kind).inc(count)
    if published_at is not None:
        metrics.publish_to_send.observe(max(0.0, time.time() - published_at))


@dataclass(frozen=True)
class Identity:
    """Who is on a socket and how they proved it."""

    user_id: int
    method: str  # "session" | "token"
    token_hash: str | None = None
    session_version: int | None = None  # the user's at handshake (session method): a bump ends the socket


class Connection:
    """Per-socket state: a message goes straight to the socket when nothing is waiting.

    Otherwise it is queued, and a writer greenlet (alive only while there is a backlog) drains the queue in order.
    """

    def __init__(self, identity: Identity, *, queue_size: int, send_timeout: float, remote_addr: str | None = None,
                 connection_id: str | None = None, raw_frames: bool = True) -> None:
        self.id = connection_id or str(uuid.uuid4())
        self.identity = identity
        self.user_id = identity.user_id
        self.remote_addr = remote_addr
        self.connected_at = time.time()
        self.send_timeout = send_timeout
        # Without permessage-deflate a frame is the same bytes for every socket: build once, write many.
        self.raw_frames = raw_frames
        self.subscriptions: dict[str, Subscription] = {}
        self.queue = ConflatingQueue(queue_size)
        self.sent = 0
        self.dropped = 0
        self.closing = False
        self.close_code: int | None = None
        self.close_message = ""
        self.ws: Any = None
        self.writer: gevent.Greenlet | None = None
        self.last_client_message = time.monotonic()
        self._ready = gevent.event.Event()
        self._due: list[tuple[float, str]] = []
        self._full_since: float | None = None
        self._writer_active = False
        self._in_flight = False  # the writer holds a batch taken from the queue
        self._identity_fields: dict[str, Any] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self, ws: Any) -> None:
        """Attach the accepted socket (a writer greenlet starts only when messages have to wait)."""
        self.ws = ws

    def stop(self) -> None:
        """After the socket ended: stop the writer (waits briefly, then kills it) and let go of held state."""
        writer = self.writer
        if writer is not None and not writer.dead:
            self.queue.put(OutboundEntry("", _STOP), force=True)
            self._ready.set()
            writer.join(timeout=self.send_timeout + 1)
            if not writer.dead:
                writer.kill(block=False)
        self.writer = None
        self._due.clear()
        self.queue.clear()

    def close(self, code: int, message: str = "", retry_after: int | None = None) -> None:
        """Send `error {code, message}` (for 4xxx codes), then the close frame; queued updates are dropped."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.close_message = message or CLOSE_REASONS.get(code, "")
        self.queue.drop_keyed()  # replies already queued still go out, in order
        self._due.clear()
        if code >= 4000:
            metrics.client_errors.labels(str(code)).inc()
            text = client_envelope(ERROR, error_data(code, self.close_message, retry_after, closing=True), self.id)
            self.queue.put(OutboundEntry(text, ERROR), force=True)
        self.queue.put(OutboundEntry("", _CLOSE), force=True)
        self._wake()

    # ---- sending (never blocks) -------------------------------------------------------------------------

    def push(self, text: str, kind: str, key: str | None = None, published_at: float | None = None, *,
             force: bool = False, frame: bytes | None = None) -> str:
        """Write one message now if nothing is waiting, else queue it: WRITTEN, QUEUED or REFUSED.

        WRITTEN messages are counted by the caller (record_written: once per update, not per socket).
        """
        if self.closing:
            return REFUSED
        if self._can_write_now() and self.ws.sock.try_send(frame if frame is not None else text_frame(text)):
            self.sent += 1
            if self.ws.sock.pending:  # a short write: the writer sends the rest before anything else
                self._wake()
            return WRITTEN
        result = self.queue.put(OutboundEntry(text, kind, key, published_at, frame), force)
        if result in (CONFLATED, DROPPED):
            self._count_drop("conflated" if result == CONFLATED else "overflow")
            now = time.monotonic()
            if self._full_since is None:
                self._full_since = now
            elif now - self._full_since > self.send_timeout:
                logger.warning("slow consumer: queue full", extra={"connection_id": self.id})
                self.close(SLOW_CONSUMER, "slow consumer: the connection cannot keep up")
                return REFUSED
        self._wake()
        return REFUSED if result == DROPPED else QUEUED

    def send_ping(self) -> bool:
        """A WebSocket ping (the socket forgets any earlier pong); False when the socket is closing or gone."""
        if self.closing or self.ws is None or not self.ws.connected:
            return False
        self.ws.ping()
        if not (self._can_write_now() and self.ws.sock.try_send(PING_FRAME)):
            self.queue.put(OutboundEntry("", _PING, frame=PING_FRAME), force=True)
            self._wake()
        return True

    def pong_received(self) -> bool:
        """True when a pong arrived since the last ping."""
        return bool(self.ws is not None and self.ws.pong_received)

    def close_no_pong(self) -> None:
        """The peer answered no ping within WEBSOCKET_PONG_TIMEOUT: it is gone (1008)."""
        self.close(CLOSE_NO_PONG, "Ping/Pong timeout")

    def send(self, text: str, kind: str, key: str | None = None) -> None:
        """A message for this socket alone (reply, error, notice): never dropped for a full queue."""
        if self.push(text, kind, key, force=True) == WRITTEN:
            record_written(kind, 1, None)

    def reply(self, kind: str, data: dict[str, Any]) -> None:
        """A direct reply (carries this connection's id)."""
        self.send(client_envelope(kind, data, self.id), kind)

    def error(self, code: int, message: str, retry_after: int | None = None) -> None:
        """An `error` message; the connection stays open."""
        metrics.client_errors.labels(str(code)).inc()
        self.reply(ERROR, error_data(code, message, retry_after))

    def deliver(self, update: Update) -> str:
        """A live channel update from the relay: filter, throttle or send it (push's result, or REFUSED)."""
        subscription = self.subscriptions.get(update.channel)
        if subscription is None or self.closing:
            return REFUSED
        decision = subscription.offer(update, time.monotonic())
        if decision == SEND:
            return self.push(update.text, update.kind, update.channel, update.published_at, frame=update.frame)
        if decision == HOLD:
            self._schedule(subscription)
        elif decision == REPLACED:
            self._count_drop("max_hz")
        return REFUSED

    def deliver_snapshot(self, update: Update) -> str:
        """A fresh snapshot (after the bus came back), unless the client already has newer data."""
        subscription = self.subscriptions.get(update.channel)
        if subscription is None or subscription.pending is not None or not subscription.newer(update):
            return REFUSED
        subscription.accept(update, time.monotonic())
        return self.push(update.text, update.kind, update.channel, frame=update.frame)

    def start_subscription(self, subscription: Subscription, initial: list[Update]) -> None:
        """Send the snapshot/replay of a new subscription, then what arrived while it was read."""
        self.start_subscriptions([], [(subscription, initial)])

    def start_subscriptions(self, replies: list[str], started: list[tuple[Subscription, list[Update]]]) -> None:
        """Send `replies` (the acks), then each subscription's snapshot/replay and what arrived while it was read.

        One write when nothing waits for the socket (a subscribe costs one `send`, not two); otherwise each
        message is queued on its own, in the same order, exactly as if sent one by one.
        """
        now = time.monotonic()
        entries: list[_Reply] = [(text, SUBSCRIBED, None, None, None) for text in replies]
        for subscription, initial in started:
            entries += [(update.text, update.kind, update.channel, update.published_at, update.frame)
                        for update in subscription.start(initial, now)]
        self._push_together(entries)
        for subscription, _ in started:
            if subscription.held is not None:
                self._schedule(subscription)

    def _push_together(self, entries: list[_Reply]) -> None:
        """Messages for this socket alone (never dropped for a full queue), in one write when they can go now."""
        # Raw frames only (_can_write_now: no permessage-deflate), so the bytes are exactly what lone writes send.
        if (len(entries) > 1 and not self.closing and self._can_write_now()
                and self.ws.sock.try_send(b"".join(frame or text_frame(text) for text, _, _, _, frame in entries))):
            self.sent += len(entries)
            if self.ws.sock.pending:
                self._wake()
            for _, kind, _, published_at, _ in entries:
                record_written(kind, 1, published_at)
            return
        for text, kind, key, published_at, frame in entries:
            if self.push(text, kind, key, published_at, force=True, frame=frame) == WRITTEN:
                record_written(kind, 1, published_at)

    def _send_update(self, update: Update, *, force: bool = False) -> None:
        status = self.push(update.text, update.kind, update.channel, update.published_at, force=force,
                           frame=update.frame)
        if status == WRITTEN:
            record_written(update.kind, 1, update.published_at)

    def _schedule(self, subscription: Subscription) -> None:
        heapq.heappush(self._due, (subscription.next_allowed, subscription.channel))
        self._wake()

    def _count_drop(self, reason: str) -> None:
        self.dropped += 1
        metrics.messages_dropped.labels(reason).inc()

    def _can_write_now(self) -> bool:
        # Order is kept: nothing may be queued or held by the writer, and the socket must be ours to write.
        return (self.raw_frames and not self._in_flight and len(self.queue) == 0 and self.ws is not None
                and self.ws.connected)

    # ---- the writer ---------------------------------------------------------------------------------

    def _wake(self) -> None:
        """Have the writer look at the queue: signal it, or start one (none runs while nothing waits)."""
        self._ready.set()
        if not self._writer_active and self.ws is not None:
            self._writer_active = True
            self.writer = spawn(self._write_loop, name="ws-writer")

    def _release_due(self) -> None:
        now = time.monotonic()
        while self._due and self._due[0][0] <= now:
            _, channel = heapq.heappop(self._due)
            subscription = self.subscriptions.get(channel)
            if subscription is None or subscription.held is None:
                continue
            if now < subscription.next_allowed:  # a snapshot moved the slot
                self._schedule(subscription)
                continue
            item = subscription.release(now)
            if item is not None:
                self._send_update(item)

    def _write_loop(self) -> None:
        finished = True  # False when the writer merely ran out of work: the socket goes on
        try:
            while True:
                if self._due:
                    self._release_due()
                if self.ws.sock.pending and not self._write([]):
                    return
                entry = self.queue.get()
                if entry is None:
                    self._full_since = None
                    if not self._due:
                        finished = False
                        return
                    self._ready.clear()
                    self._ready.wait(max(0.0, self._due[0][0] - time.monotonic()))
                elif not self._write_entry(entry):
                    return
        finally:
            self._writer_active = False
            if finished and self.ws is not None:
                if self.ws.connected:
                    self.ws.abort()  # the writer is gone (write failed or a bug): the socket cannot go on
                self.ws.event.set()  # wake the read loop: the socket is done

    def _write_entry(self, entry: OutboundEntry) -> bool:
        """Write `entry` (and what follows it); False when the writer must end: stop, close or a failed write."""
        if entry.kind == _STOP:
            return False
        if entry.kind == _CLOSE:
            self._write_close()
            return False
        self._in_flight = True
        try:
            written = self._write(self._batch(entry))
        finally:
            self._in_flight = False
        if written and self._full_since is not None and len(self.queue) <= self.queue.capacity // 2:
            self._full_since = None
        return written

    def _batch(self, first: OutboundEntry) -> list[OutboundEntry]:
        """`first` plus what else is queued (up to a limit): one write instead of many."""
        batch = [first]
        if not self.raw_frames:
            return batch
        size = len(first.frame or first.text)
        while size < BATCH_BYTES and len(batch) < BATCH_MESSAGES:
            following = self.queue.peek()
            if following is None or following.kind in (_STOP, _CLOSE):
                break
            self.queue.get()
            batch.append(following)
            size += len(following.frame or following.text)
        return batch

    def _write(self, batch: list[OutboundEntry]) -> bool:
        """One blocking write (an empty batch finishes a short direct write) under the send deadline."""
        timer = gevent.Timeout(self.send_timeout)
        timer.start()
        try:
            if not self.ws.connected:
                return False
            if self.raw_frames or not batch or batch[0].kind == _PING:
                self.ws.sock.send(b"".join(entry.frame or text_frame(entry.text) for entry in batch))
            else:
                self.ws.send(batch[0].text)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            self._slow_consumer()
            return False
        except (ConnectionClosed, OSError):
            return False
        finally:
            timer.close()
        self.sent += len(batch)
        _count_batch(batch)
        return True

    def _write_close(self) -> None:
        timer = gevent.Timeout(self.send_timeout)
        timer.start()
        try:
            self.ws.close(self.close_code, self.close_message[:120])
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            self.ws.abort()
        except (ConnectionClosed, OSError):
            pass
        finally:
            timer.close()

    def _slow_consumer(self) -> None:
        """A send blocked past the deadline: the peer is not reading, so drop the TCP connection."""
        logger.warning("slow consumer: send blocked", extra={"connection_id": self.id, "user_id": self.user_id})
        metrics.client_errors.labels(str(SLOW_CONSUMER)).inc()
        self.closing = True
        self.close_code = SLOW_CONSUMER
        self.ws.abort()

    # ---- introspection ------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The ConnectionManager's view of this connection (rebuilt for every socket every stats period)."""
        if self._identity_fields is None:  # what never changes is formatted once
            self._identity_fields = {
                "connection_id": self.id,
                "user_id": self.user_id,
                "auth": self.identity.method,
                "connected_at": iso(datetime.fromtimestamp(self.connected_at, UTC)),
                "remote_addr": self.remote_addr,
            }
        return {
            **self._identity_fields,
            "subscriptions": sorted(self.subscriptions),
            "messages_sent": self.sent,
            "messages_dropped": self.dropped,
            "queued": len(self.queue),
        }


def _count_batch(batch: list[OutboundEntry]) -> None:
    """Metrics of one queued write: messages by type, and the publish-to-write time of its oldest update."""
    by_kind: dict[str, int] = {}
    oldest: float | None = None
    for entry in batch:
        if entry.kind == _PING:
            continue
        by_kind[entry.kind] = by_kind.get(entry.kind, 0) + 1
        if entry.published_at is not None and (oldest is None or entry.published_at < oldest):
            oldest = entry.published_at
    for kind, count in by_kind.items():
        _sent_counter(kind).inc(count)
    if oldest is not None:
        metrics.publish_to_send.observe(max(0.0, time.time() - oldest))
