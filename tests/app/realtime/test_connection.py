"""Connection writes over a real (gevent) socket pair: direct writes, the backlog writer, order, freeing."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import gevent
import gevent.event
import gevent.socket
import pytest

from app.realtime.connection import QUEUED, WRITTEN, Connection, Identity
from app.realtime.limits import Subscription
from app.realtime.socket import LockedSocket
from app.realtime.updates import Update, make_update, text_frame
from protocol.channels import asset_channel


class PairSocket:
    """The parts of RealtimeSocket a Connection uses, over one end of a socket pair."""

    def __init__(self, sock: gevent.socket.socket) -> None:
        self.sock = LockedSocket(sock)
        self.connected = True
        self.event = gevent.event.Event()

    def abort(self) -> None:
        self.connected = False
        self.sock.abort()

    def close(self, code: int, message: str) -> None:
        self.connected = False


@pytest.fixture
def pair() -> Iterator[tuple[Connection, gevent.socket.socket]]:
    server, client = gevent.socket.socketpair()
    server.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_SNDBUF, 4096)
    connection = Connection(Identity(1, "token"), queue_size=10_000, send_timeout=5)
    connection.start(PairSocket(server))
    yield connection, client
    connection.stop()
    client.close()
    server.close()


def read_exactly(sock: gevent.socket.socket, size: int) -> bytes:
    chunks, received = [], 0
    with gevent.Timeout(10):
        while received < size:
            chunk = sock.recv(min(65536, size - received))
            assert chunk, "the server side closed early"
            chunks.append(chunk)
            received += len(chunk)
    return b"".join(chunks)


def test_an_idle_socket_is_written_directly_without_a_writer(pair: tuple[Connection, gevent.socket.socket]) -> None:
    connection, client = pair
    text = '{"type": "asset_update", "data": {"seq": 1}}'
    assert connection.push(text, "asset_update", "asset:AAPL", frame=text_frame(text)) == WRITTEN
    assert connection.writer is None and connection.sent == 1
    assert read_exactly(client, len(text_frame(text))) == text_frame(text)


def test_a_full_kernel_buffer_queues_and_the_writer_keeps_the_order(
        pair: tuple[Connection, gevent.socket.socket]) -> None:
    connection, client = pair
    frames = [text_frame(f'{{"n": {n}, "pad": "{"x" * 3000}"}}') for n in range(200)]
    results = [connection.push(frame.decode(errors="ignore"), "asset_update", f"asset:S{n}", frame=frame)
               for n, frame in enumerate(frames)]
    assert results[0] == WRITTEN and QUEUED in results  # the peer is not reading yet: a backlog forms
    assert connection.writer is not None
    assert read_exactly(client, sum(map(len, frames))) == b"".join(frames)  # whole frames, in order
    with gevent.Timeout(10):
        while connection.writer is not None and not connection.writer.dead:
            gevent.sleep(0.01)
    assert len(connection.queue) == 0 and connection.sent == len(frames)  # the writer ended with its backlog


def test_a_closed_connection_is_freed_without_the_cycle_collector() -> None:
    server, client = gevent.socket.socketpair()
    connection = Connection(Identity(1, "token"), queue_size=16, send_timeout=5)
    connection.start(PairSocket(server))
    connection.reply("pong", {})
    connection.close(4408, "idle")
    read_exactly(client, 1)
    connection.stop()
    probe = weakref.ref(connection)
    gc.disable()
    try:
        del connection
        assert probe() is None  # reference counting alone freed it: frozen generations cannot leak it
    finally:
        gc.enable()
        client.close()
        server.close()


def _snapshot(symbol: str, seq: int) -> tuple[Subscription, list[Update]]:
    channel = asset_channel(symbol)
    return Subscription(channel, "asset", symbol), [make_update(channel, "asset_update",
                                                                {"symbol": symbol, "seq": seq, "snapshot": True}, "c")]


def test_a_subscribes_acks_and_snapshots_go_in_one_write_in_order(
        pair: tuple[Connection, gevent.socket.socket]) -> None:
    connection, client = pair
    acks = ['{"type": "subscribed", "n": 1}', '{"type": "subscribed", "n": 2}']
    started = [_snapshot("AAPL", 7), _snapshot("MSFT", 9)]
    expected = b"".join([*map(text_frame, acks), *(initial[0].frame or text_frame(initial[0].text)
                                                   for _, initial in started)])

    connection.start_subscriptions(acks, started)

    assert connection.writer is None and connection.sent == 4  # written at once, no writer needed
    assert read_exactly(client, len(expected)) == expected


def test_behind_a_backlog_the_acks_and_snapshots_queue_in_the_same_order(
        pair: tuple[Connection, gevent.socket.socket]) -> None:
    connection, client = pair
    backlog = [text_frame(f'{{"n": {n}, "pad": "{"x" * 3000}"}}') for n in range(100)]
    for n, frame in enumerate(backlog):
        connection.push(frame.decode(errors="ignore"), "asset_update", f"asset:S{n}", frame=frame)
    assert len(connection.queue) > 0  # the peer is not reading: a backlog formed
    acks = ['{"type": "subscribed", "n": 1}']
    started = [_snapshot("AAPL", 7)]

    connection.start_subscriptions(acks, started)

    tail = text_frame(acks[0]) + text_frame(started[0][1][0].text)
    assert read_exactly(client, sum(map(len, backlog)) + len(tail)) == b"".join(backlog) + tail
