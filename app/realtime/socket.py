"""simple-websocket's Server made safe for direct writes and a writer greenlet: whole frames, 4413 instead of 1009."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from simple_websocket import Server
from wsproto.events import CloseConnection, TextMessage
from wsproto.frame_protocol import CloseReason

from models.messages import TOO_LARGE

LINGER_SECONDS = 2.0  # how long a closing socket keeps reading so the peer gets our close frame, not a RST
LINGER_BYTES = 16 << 20  # read and discarded, never buffered

_live_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def live_socket_threads() -> int:
    """Reader greenlets of simple-websocket still running in this process."""
    return sum(1 for thread in list(_live_threads) if thread.is_alive())


class _TrackedThread(threading.Thread):
    """The reader thread (a greenlet under gevent), counted so tests can see none leaks."""

    def start(self) -> None:
        _live_threads.add(self)
        super().start()


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
    """Wraps the wsproto connection: simple-websocket's 1009 close becomes our error message + 4413."""

    def __init__(self, connection: Any, error_text: Callable[[], str]) -> None:
        self._connection = connection
        self._error_text = error_text
        self.oversized = False

    def send(self, event: Any) -> bytes:
        if isinstance(event, CloseConnection) and event.code == CloseReason.MESSAGE_TOO_BIG:
            self.oversized = True
            data = self._connection.send(TextMessage(data=self._error_text()))
            return data + self._connection.send(CloseConnection(code=TOO_LARGE, reason="message too large"))
        return self._connection.send(event)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class RealtimeSocket(Server):
    """The server side of one WebSocket.

    - permessage-deflate only when `compression` (it costs ~90 KiB and a compression per message per socket);
    - frames over `max_message_size` are cut off while arriving and answered with `oversize_error` + 4413.
    """

    def __init__(self, environ: dict[str, Any], *, oversize_error: Callable[[], str], compression: bool = False,
                 ping_interval: float | None = None, max_message_size: int | None = None) -> None:
        self._oversize_error = oversize_error
        if not compression:
            # Without the client's offer in the handshake, wsproto negotiates no extension.
            environ = {key: value for key, value in environ.items() if key != "HTTP_SEC_WEBSOCKET_EXTENSIONS"}
        super().__init__(environ, ping_interval=ping_interval, max_message_size=max_message_size,
                         thread_class=_TrackedThread)

    def handshake(self) -> None:
        self.sock: Any = LockedSocket(self.sock)
        self.ws: Any = _OversizeGuard(self.ws, self._oversize_error)
        super().handshake()

    @property
    def oversized(self) -> bool:
        """True once a frame over the size limit was cut off."""
        return bool(getattr(self.ws, "oversized", False))

    def abort(self) -> None:
        """Drop the connection without a close frame and wake a reader blocked in receive()."""
        self.connected = False
        self.sock.abort()
        self.event.set()
