"""A small synchronous WebSocket test client (websocket-client) that records frames and the close code."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import websocket
from websocket import ABNF

Message = dict[str, Any]


class Closed(Exception):
    """The server closed the socket."""


class WsClient:
    """One client socket; every received message is kept in `messages`, the close code in `close_code`."""

    def __init__(self, url: str, *, token: str | None = None, cookie: str | None = None,
                 origin: str | None = None, rcvbuf: int | None = None, timeout: float = 10,
                 sslopt: dict[str, Any] | None = None) -> None:
        headers = [f"Authorization: Bearer {token}"] if token else []
        options: dict[str, Any] = {"header": headers, "timeout": timeout}
        if sslopt:
            options["sslopt"] = sslopt
        if cookie:
            options["cookie"] = cookie
        if origin:
            options["origin"] = origin
        else:
            options["suppress_origin"] = True
        if rcvbuf:
            options["sockopt"] = [(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)]
        self.ws = websocket.create_connection(url, **options)
        self.messages: list[Message] = []
        self.close_code: int | None = None
        self.close_reason = ""

    def send(self, kind: str, data: dict[str, Any] | None = None) -> None:
        """Send {type, data, timestamp} like the JS client."""
        self.send_raw(json.dumps({"type": kind, "data": data or {}, "timestamp": "2026-01-01T00:00:00Z"}))

    def send_raw(self, text: str | bytes) -> None:
        """Send one frame as is."""
        if isinstance(text, bytes):
            self.ws.send(text, opcode=ABNF.OPCODE_BINARY)
        else:
            self.ws.send(text)

    def receive(self, timeout: float) -> Message | None:
        """The next message (None on timeout); raises Closed when the server closed."""
        if self.close_code is not None:
            raise Closed(self.close_code)
        self.ws.settimeout(max(timeout, 0.001))
        try:
            opcode, frame = self.ws.recv_data_frame(control_frame=False)
        except (websocket.WebSocketTimeoutException, TimeoutError):
            return None
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError) as exc:
            self.close_code = self.close_code or 1006
            raise Closed(self.close_code) from exc
        if opcode == ABNF.OPCODE_CLOSE:
            data = frame.data or b""
            self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
            self.close_reason = data[2:].decode(errors="replace")
            raise Closed(self.close_code)
        message = json.loads(frame.data)
        self.messages.append(message)
        return message

    def expect(self, predicate: Callable[[Message], bool], timeout: float = 10, what: str = "message") -> Message:
        """Read until a message matches; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [m.get("type") for m in self.messages][-20:]
                raise AssertionError(f"timed out waiting for {what}; got {seen}")
            message = self.receive(min(remaining, 1.0))
            if message is not None and predicate(message):
                return message

    def expect_type(self, kind: str, timeout: float = 10, **fields: Any) -> Message:
        """The next message of this type whose data has these field values."""
        return self.expect(lambda m: m["type"] == kind and all(m["data"].get(k) == v for k, v in fields.items()),
                           timeout, f"{kind} {fields}")

    def wait_closed(self, timeout: float = 15) -> int:
        """Read (keeping messages) until the server closes; the close code."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"socket not closed; got {[m.get('type') for m in self.messages][-20:]}")
            try:
                self.receive(min(remaining, 1.0))
            except Closed as closed:
                return int(closed.args[0])

    def errors(self) -> list[dict[str, Any]]:
        """Data of every `error` received so far."""
        return [m["data"] for m in self.messages if m["type"] == "error"]

    def close(self) -> None:
        """Close from our side (ignoring errors)."""
        try:
            if self.close_code is None:
                self.ws.close(timeout=1)
            else:
                self.ws.shutdown()  # the server already closed: no closing handshake to wait for
        except Exception:
            pass
