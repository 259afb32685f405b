"""RealtimeSocket over a real (gevent) socket pair: a pong behind the client's own queued messages counts."""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import gevent.socket
import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection as FrameConnection
from wsproto.events import Ping, Pong, TextMessage

from app.realtime.socket import RealtimeSocket

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.fixture
def sockets() -> Iterator[tuple[RealtimeSocket, gevent.socket.socket, FrameConnection]]:
    server, client = gevent.socket.socketpair()
    environ = {"gunicorn.socket": server, "REQUEST_METHOD": "GET", "PATH_INFO": "/ws/realtime/",
               "QUERY_STRING": "", "HTTP_HOST": "localhost", "HTTP_CONNECTION": "Upgrade",
               "HTTP_UPGRADE": "websocket", "HTTP_SEC_WEBSOCKET_KEY": KEY, "HTTP_SEC_WEBSOCKET_VERSION": "13"}
    ws = RealtimeSocket(environ, close_error=lambda code: "")
    with gevent.Timeout(5):
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101")
    yield ws, client, FrameConnection(ConnectionType.CLIENT)
    client.close()
    server.close()


def test_a_pong_behind_queued_messages_is_seen_before_they_are_handled(
        sockets: tuple[RealtimeSocket, gevent.socket.socket, FrameConnection]) -> None:
    ws, client, frames = sockets
    client.sendall(b"".join(frames.send(TextMessage(data=f"m{n}")) for n in range(3)))
    assert ws.receive(timeout=5) == "m0"  # the other two wait in the socket's input buffer

    ws.ping()  # the relay's ping timer; the client answers while its messages are still being handled
    client.sendall(frames.send(Pong()) + frames.send(TextMessage(data="m3")))
    gevent.sleep(0.05)

    assert ws.receive(timeout=5) == "m1"
    assert ws.pong_received  # seen now, not only after m1 and m2 were handled
    assert [ws.receive(timeout=5) for _ in range(2)] == ["m2", "m3"]  # nothing lost or reordered


def test_without_an_outstanding_ping_queued_messages_are_handled_without_reading_more(
        sockets: tuple[RealtimeSocket, gevent.socket.socket, FrameConnection]) -> None:
    ws, client, frames = sockets
    client.sendall(b"".join(frames.send(TextMessage(data=f"m{n}")) for n in range(2)))
    assert ws.receive(timeout=5) == "m0"
    client.sendall(frames.send(Ping(b"x")))
    gevent.sleep(0.05)
    assert ws.receive(timeout=5) == "m1"
    assert ws.receive(timeout=0.2) is None  # now the ping was read (and answered by the socket)
    with gevent.Timeout(5):
        frames.receive_data(client.recv(4096))
    assert any(isinstance(event, Pong) for event in frames.events())
