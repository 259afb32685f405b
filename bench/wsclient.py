"""A minimal asyncio WebSocket client (RFC 6455): cheap enough that thousands fit in one load process."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

TextHandler = Callable[["WsClient", bytes, float], None]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MAX_HEAD = 16384
# Clients advertise an Ethernet MSS: on loopback (64 KiB MSS) the server's kernel would size its send buffer
# for megabytes, and a client that stops reading would not hold the server up for minutes.
CLIENT_MSS = 1460


def _mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the repeated 4-byte `key` (client frames must be masked)."""
    size = len(payload)
    if not size:
        return b""
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One masked, final frame."""
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + key + _mask(payload, key)


class WsClient(asyncio.Protocol):
    """One connection: handshake with a bearer token, then text frames go to `handler(client, payload, t)`."""

    def __init__(self, where: tuple[str, int, str], token: str, handler: TextHandler, *, tag: int = 0,
                 state: dict[str, Any] | None = None) -> None:
        host, port, path = where
        loop = asyncio.get_running_loop()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        self.handler = handler
        self.tag = tag
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.upgraded = False
        self.close_code: int | None = None
        self.state: dict[str, Any] = {} if state is None else state

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request."""
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        """Settle the handshake and close futures."""
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(self.close_code if self.close_code is not None else 1006)

    def data_received(self, data: bytes) -> None:
        """Parse the handshake answer, then frames."""
        now = time.time()
        self.buffer += data
        if not self.upgraded and not self._handshake():
            return
        self._frames(now)

    def _handshake(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._fail("oversized handshake response")
            return False
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        status = head.split(b" ", 2)[1] if head.count(b" ") >= 1 else b"?"
        if status != b"101":
            self._fail(f"handshake refused: {head.splitlines()[0].decode(errors='replace')}")
            return False
        self.upgraded = True
        if not self.opened.done():
            self.opened.set_result(None)
        return True

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def _frames(self, now: float) -> None:
        buf = self.buffer
        pos, total = 0, len(buf)
        while total - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if total - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if total - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            key = b""
            if second & 0x80:  # servers must not mask, but be lenient
                key, head = bytes(buf[pos + head : pos + head + 4]), head + 4
            end = pos + head + length
            if end > total:
                break
            payload = bytes(buf[pos + head : end])
            pos = end
            if key:
                payload = _mask(payload, key)
            self._frame(first & 0x80, first & 0x0F, payload, now)
        if pos:
            del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes, now: float) -> None:
        if opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            if not fin or self.fragments:
                self.fragments.append(payload)
                if not fin:
                    return
                payload, self.fragments = b"".join(self.fragments), []
            self.handler(self, payload, now)
        elif opcode == OP_PING:
            self.send_frame(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.send_frame(OP_CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Write one frame unless the connection is gone."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload))

    def send_json(self, message: object) -> None:
        """Send one JSON text message."""
        self.send_frame(OP_TEXT, json.dumps(message, separators=(",", ":")).encode())

    def close(self, code: int = 1000) -> None:
        """Start a clean close; the server's close frame (or EOF) ends it."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        self.send_frame(OP_CLOSE, code.to_bytes(2, "big"))

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        if self.transport is not None:
            self.transport.abort()


async def open_client(host: str, port: int, path: str, token: str, handler: TextHandler, *, tag: int = 0,
                      state: dict[str, Any] | None = None, rcvbuf: int | None = None,
                      timeout: float = 15.0) -> WsClient:
    """Connect and complete the upgrade; `rcvbuf` shrinks the receive buffer (slow consumers)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, CLIENT_MSS)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
        _, client = await loop.create_connection(
            lambda: WsClient((host, port, path), token, handler, tag=tag, state=state), sock=sock
        )
    except BaseException:
        sock.close()
        raise
    try:
        await asyncio.wait_for(asyncio.shield(client.opened), timeout)
    except BaseException:
        client.abort()
        raise
    return client
