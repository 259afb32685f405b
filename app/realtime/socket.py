"""simple-websocket's Server made safe for direct writes and a writer greenlet: whole frames, 4413 instead of 1009."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import gevent
from simple_websocket import ConnectionClosed, Server
from wsproto.events import CloseConnection, TextMessage
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError

from protocol.codes import CLOSE_INVALID_DATA, TOO_LARGE

LINGER_SECONDS = 2.0  # how long a closing socket keeps reading so the peer gets our close frame, not a RST
LINGER_BYTES = 16 << 20  # read and discarded, never buffered

PING_FRAME = b"\x89\x00"  # a final, empty, unmasked ping (control frames are never compressed)

_open_sockets: weakref.WeakSet[RealtimeSocket] = weakref.WeakSet()


def open_sockets() -> int:
    """Sockets accepted in this process and not finished yet (a leak shows here)."""
    return len(_open_sockets)


class LockedSocket:
    """Every write is whole and under a lock: direct writes, the writer, pings and close frames never interleave."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        # gevent's socket wraps a non-blocking OS socket: writing to that one never waits for the hub.
        raw = getattr(sock, "_sock", None)
        self._raw: socket.socket | None = raw if raw is not None and raw.gettimeout() == 0.0 else None
        self._lock = threading.Lock()
        self.pending: memoryview | None = None  # the unsent rest of a short try_send, sent before anything else
        self.closed = False

    def send(self, data: bytes) -> int:
        """Write all of `data`, after the rest of a short direct write (simple-websocket ignores partial writes)."""
        with self._lock:
            if self.pending is not None:
                pending, self.pending = self.pending, None
                self._sock.sendall(pending)
            if data:
                self._sock.sendall(data)
        return len(data)

    def recv_ready(self, size: int) -> bytes | None:
        """What has arrived already, without waiting (None: nothing yet, or no non-blocking socket to ask)."""
        raw = self._raw
        if raw is None:
            return None
        try:
            return raw.recv(size)
        except BlockingIOError:
            return None

    def try_send(self, data: bytes) -> bool:
        """Write without waiting: True when `data` is on its way (a short write leaves the rest in `pending`).

        False when nothing was written: the lock is busy, the kernel buffer is full, or the socket failed
        (a blocking send will find out and end the socket).
        """
        raw = self._raw
        if raw is None or self.pending is not None or self.closed or not self._lock.acquire(blocking=False):
            return False
        try:
            sent = raw.send(data)
        except OSError:
            return False
        finally:
            self._lock.release()
        if sent < len(data):
            self.pending = memoryview(data)[sent:]
        return True

    def close(self) -> None:
        """Half-close, read what the peer still sends for a moment, then close (avoids a RST eating our frames)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_WR)
            self._sock.settimeout(LINGER_SECONDS)
            deadline = time.monotonic() + LINGER_SECONDS
            drained = 0
            while drained < LINGER_BYTES and time.monotonic() < deadline:
                chunk = self._sock.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        finally:
            self._sock.close()

    def abort(self) -> None:
        """Drop the TCP connection now (a peer that stopped reading cannot take a close frame)."""
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _OversizeGuard:
    """Wraps the wsproto connection: our error message before 4413 (instead of 1009) and before 1007.

    simple-websocket closes 1009 for a frame over the size limit; wsproto closes 1007 for a text frame
    that is not UTF-8.
    """

    def __init__(self, connection: Any, error_text: Callable[[int], str]) -> None:
        self._connection = connection
        self._error_text = error_text  # close code -> the `error` message sent before that close
        self.oversized = False

    def send(self, event: Any) -> bytes:
        if isinstance(event, CloseConnection) and event.code == CloseReason.MESSAGE_TOO_BIG:
            self.oversized = True
            data: bytes = self._connection.send(TextMessage(data=self._error_text(TOO_LARGE)))
            closing: bytes = self._connection.send(CloseConnection(code=TOO_LARGE, reason="message too large"))
            return data + closing
        if isinstance(event, CloseConnection) and event.code == CloseReason.INVALID_FRAME_PAYLOAD_DATA:
            text: bytes = self._connection.send(TextMessage(data=self._error_text(CLOSE_INVALID_DATA)))
            close: bytes = self._connection.send(CloseConnection(code=event.code, reason="invalid UTF-8"))
            return text + close
        return self._connection.send(event)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class _InlineReader:
    """Stands in for simple-websocket's reader thread: RealtimeSocket reads in the greenlet that receives."""

    def __init__(self, target: Callable[[], None] | None = None) -> None:
        self.name = "inline-reader"

    def start(self) -> None:
        """Nothing to start: receive() reads."""

    def is_alive(self) -> bool:
        """Never a separate greenlet."""
        return False

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""


class RealtimeSocket(Server):  # type: ignore[misc]  # simple-websocket ships no annotations
    """The server side of one WebSocket.

    - no reader greenlet: receive() reads the socket in the caller's greenlet (one parked greenlet per
      socket instead of two), and pings come from the relay's timer (no selector per socket);
    - permessage-deflate only when `compression` (it costs ~90 KiB and a compression per message per socket);
    - frames over `max_message_size` are cut off while arriving and answered with `close_error(4413)` + 4413,
      a text frame that is not UTF-8 with `close_error(1007)` + 1007.
    """

    pong_received: bool

    def __init__(self, environ: dict[str, Any], *, close_error: Callable[[int], str], compression: bool = False,
                 max_message_size: int | None = None) -> None:
        self._close_error = close_error  # one attribute: each more grows every socket's instance dict
        if not compression:
            # Without the client's offer in the handshake, wsproto negotiates no extension.
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        super().__init__(environ, max_message_size=max_message_size, thread_class=_InlineReader)
        self.environ: dict[str, Any] = {}  # the request keeps its own; this one only served the handshake
        _open_sockets.add(self)

    def handshake(self) -> None:
        """The upgrade, with the socket behind a lock and oversize frames answered with our error first."""
        self.sock: Any = LockedSocket(self.sock)
        self.ws: Any = _OversizeGuard(self.ws, self._close_error)
        super().handshake()

    @property
    def oversized(self) -> bool:
        """True once a frame over the size limit was cut off."""
        return bool(getattr(self.ws, "oversized", False))

    def receive(self, timeout: float | None = None) -> Any:
        """The next message (str or bytes), None after `timeout` s; ConnectionClosed once the socket ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.connected and not self.input_buffer:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            self._read(remaining)
        if self.input_buffer:
            if not self.pong_received:
                # A pong queued behind this client's own messages counts now: handling a burst of them can
                # outlast the pong timeout (a reconnect storm's ten subscribes), and the client is not gone.
                self._read_arrived()
            return self.input_buffer.pop(0)
        raise ConnectionClosed(self.close_reason, self.close_message)

    def _read(self, timeout: float | None) -> None:
        """Read what arrives within `timeout` and handle it (pongs, pings, close, messages)."""
        data = None
        try:
            with gevent.Timeout(timeout, False):
                data = self.sock.recv(self.receive_bytes)
            self._handle_data(data)
        except (OSError, LocalProtocolError):
            self.connected = False

    def _read_arrived(self) -> None:
        """Handle what has arrived already, without waiting."""
        try:
            self._handle_data(self.sock.recv_ready(self.receive_bytes))
        except (OSError, LocalProtocolError):
            self.connected = False

    def _handle_data(self, data: bytes | None) -> None:
        if data is None:
            return
        if not data:
            raise OSError("connection closed by the peer")
        self.ws.receive_data(data)
        self.connected = self._handle_events()

    def ping(self) -> None:
        """Mark a ping as sent: a pong is awaited again."""
        self.pong_received = False

    def finish(self) -> None:
        """Close the TCP connection (after a close frame, lingering for the peer's) and forget the socket."""
        _open_sockets.discard(self)
        self.connected = False
        self.sock.close()

    def abort(self) -> None:
        """Drop the connection without a close frame (wakes a greenlet blocked in receive())."""
        self.connected = False
        self.sock.abort()
        self.event.set()
