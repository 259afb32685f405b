"""One WebSocket's server-side state: subscriptions, the bounded outbound queue and its writer greenlet."""

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
from app.realtime.tasks import spawn
from app.realtime.updates import Update, text_frame
from models.messages import (
    ASSET_UPDATE,
    CLOSE_REASONS,
    CONNECTION,
    ERROR,
    FEED_STATUS,
    NOTIFICATION,
    PONG,
    PORTFOLIO_UPDATE,
    POSITION_UPDATE,
    SLOW_CONSUMER,
    SUBSCRIBED,
    UNSUBSCRIBED,
    client_envelope,
    error_data,
    iso,
)

logger = logging.getLogger("pricewire.realtime")

_CLOSE = "_close"
_STOP = "_stop"
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


@dataclass(frozen=True)
class Identity:
    """Who is on a socket and how they proved it."""

    user_id: int
    method: str  # "session" | "token"
    token_hash: str | None = None


class Connection:
    """Per-socket state. Only the writer greenlet writes to the socket; everyone else enqueues."""

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

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self, ws: Any) -> None:
        """Attach the accepted socket and start the writer."""
        self.ws = ws
        self.writer = spawn(self._write_loop, name=f"ws-writer-{self.id[:8]}")

    def stop(self) -> None:
        """Stop the writer (after the socket ended); waits briefly, then kills it."""
        writer = self.writer
        if writer is None or writer.dead:
            return
        self.queue.put(OutboundEntry("", _STOP), force=True)
        self._ready.set()
        writer.join(timeout=self.send_timeout + 1)
        if not writer.dead:
            writer.kill(block=False)

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
        self._ready.set()

    # ---- enqueueing (never blocks, never writes) ----------------------------------------------------

    def push(self, text: str, kind: str, key: str | None = None, published_at: float | None = None, *,
             force: bool = False, frame: bytes | None = None) -> bool:
        """Queue one message; False when closing or dropped because the queue is full."""
        if self.closing:
            return False
        result = self.queue.put(OutboundEntry(text, kind, key, published_at, frame), force)
        if result in (CONFLATED, DROPPED):
            self._count_drop("conflated" if result == CONFLATED else "overflow")
            now = time.monotonic()
            if self._full_since is None:
                self._full_since = now
            elif now - self._full_since > self.send_timeout:
                logger.warning("slow consumer: queue full", extra={"connection_id": self.id})
                self.close(SLOW_CONSUMER, "slow consumer: the connection cannot keep up")
                return False
        self._ready.set()
        return result != DROPPED

    def reply(self, kind: str, data: dict[str, Any]) -> None:
        """A direct reply (carries this connection's id); always queued."""
        self.push(client_envelope(kind, data, self.id), kind, force=True)

    def error(self, code: int, message: str, retry_after: int | None = None) -> None:
        """An `error` message; the connection stays open."""
        metrics.client_errors.labels(str(code)).inc()
        self.reply(ERROR, error_data(code, message, retry_after))

    def deliver(self, update: Update) -> None:
        """A live channel update from the relay: filter, throttle or queue it."""
        subscription = self.subscriptions.get(update.channel)
        if subscription is None or self.closing:
            return
        decision = subscription.offer(update, time.monotonic())
        if decision == SEND:
            self.push(update.text, update.kind, update.channel, update.published_at, frame=update.frame)
        elif decision == HOLD:
            self._schedule(subscription)
        elif decision == REPLACED:
            self._count_drop("max_hz")

    def deliver_snapshot(self, update: Update) -> None:
        """A fresh snapshot (after the bus came back), unless the client already has newer data."""
        subscription = self.subscriptions.get(update.channel)
        if subscription is None or subscription.pending is not None or not subscription.newer(update):
            return
        subscription.accept(update, time.monotonic())
        self.push(update.text, update.kind, update.channel, frame=update.frame)

    def start_subscription(self, subscription: Subscription, initial: list[Update]) -> None:
        """Queue the snapshot/replay of a new subscription, then what arrived while it was read."""
        for update in subscription.start(initial, time.monotonic()):
            self.push(update.text, update.kind, update.channel, update.published_at, force=True, frame=update.frame)
        if subscription.held is not None:
            self._schedule(subscription)

    def _schedule(self, subscription: Subscription) -> None:
        heapq.heappush(self._due, (subscription.next_allowed, subscription.channel))
        self._ready.set()

    def _count_drop(self, reason: str) -> None:
        self.dropped += 1
        metrics.messages_dropped.labels(reason).inc()

    # ---- the writer ---------------------------------------------------------------------------------

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
                self.push(item.text, item.kind, item.channel, item.published_at, frame=item.frame)

    def _write_loop(self) -> None:
        try:
            while True:
                if self._due:
                    self._release_due()
                entry = self.queue.get()
                if entry is None:
                    self._full_since = None
                    self._ready.clear()
                    self._ready.wait(max(0.0, self._due[0][0] - time.monotonic()) if self._due else None)
                    continue
                if entry.kind == _STOP:
                    return
                if entry.kind == _CLOSE:
                    self._write_close()
                    return
                if not self._write(self._batch(entry)):
                    return
                if self._full_since is not None and len(self.queue) <= self.queue.capacity // 2:
                    self._full_since = None
        finally:
            if self.ws is not None:
                if self.ws.connected:
                    self.ws.abort()  # the writer is gone (write failed or a bug): the socket cannot go on
                self.ws.event.set()  # wake the read loop: the socket is done

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
        timer = gevent.Timeout(self.send_timeout)
        timer.start()
        try:
            if self.raw_frames:
                if not self.ws.connected:
                    return False
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
        now = time.time()
        for entry in batch:
            _sent_counter(entry.kind).inc()
            if entry.published_at is not None:
                metrics.publish_to_send.observe(max(0.0, now - entry.published_at))
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
        """The ConnectionManager's view of this connection."""
        return {
            "connection_id": self.id,
            "user_id": self.user_id,
            "auth": self.identity.method,
            "subscriptions": sorted(self.subscriptions),
            "connected_at": iso(datetime.fromtimestamp(self.connected_at, UTC)),
            "remote_addr": self.remote_addr,
            "messages_sent": self.sent,
            "messages_dropped": self.dropped,
            "queued": len(self.queue),
        }
