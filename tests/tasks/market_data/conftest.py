"""Fixtures: full configs, a real local HTTP server speaking each provider's format, a loopback guard, Redis."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from app.config import load_config  # tests may import app; the tasks package itself may not

RESPONSES = Path(__file__).parent / "responses"

#: ``market_config(KEY=value, ...)``: the full config production builds, with some keys replaced.
MarketConfig = Callable[..., dict[str, Any]]


@pytest.fixture
def market_config() -> MarketConfig:
    """Configs as production has them: load_config's defaults (the only ones there are) plus overrides."""
    defaults = load_config({"SECRET_KEY": "test"})

    def build(**overrides: Any) -> dict[str, Any]:
        return {**defaults, **overrides}

    return build


def load_response(name: str) -> str:
    """The text of a recorded/hand-built provider response."""
    return (RESPONSES / name).read_text()


@dataclass
class Reply:
    """What the stub server answers."""

    body: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # block until the test ends (to provoke client timeouts)


@dataclass
class Seen:
    """One request the stub server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


Route = Reply | Callable[[Seen], Reply] | list[Reply]


class StubServer:
    """ThreadingHTTPServer on 127.0.0.1 with a random port and per-path scripted replies."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def route(self, path: str, reply: Route) -> None:
        """Answer GETs of ``path`` with a reply, a list of replies (one per request, last repeats), or a callable."""
        self.routes[path] = reply

    def json(self, path: str, name: str, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """Answer ``path`` with a file from responses/."""
        self.route(path, Reply(load_response(name), status, headers or {}))

    def seen(self, path: str) -> list[Seen]:
        """Requests received for ``path``."""
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        seen = Seen(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}, dict(handler.headers))
        with self._lock:
            self.requests.append(seen)
            count = sum(1 for request in self.requests if request.path == parts.path)
        route = self.routes.get(parts.path)
        if isinstance(route, list):
            reply = route[min(count, len(route)) - 1]
        elif callable(route):
            reply = route(seen)
        else:
            reply = route or Reply(json.dumps({"detail": "no route"}), 404)
        if reply.hang:
            self.release.wait(60)
            return
        body = reply.body.encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A running stub provider server."""
    server = StubServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test whose code tries to connect anywhere but 127.0.0.1 (the machine is offline)."""
    original = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"test tried to reach {address!r}; only 127.0.0.1 is allowed")
        return original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeClock:
    """A monotonic clock the test moves by hand (no sleeping)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A hand-driven clock."""
    return FakeClock()


@pytest.fixture
def redis_client(redis_server_url: str, redis_prefix: str) -> Iterator[redis.Redis]:
    """A client of the real Redis; keys under this test's prefix are deleted afterwards."""
    client = redis.Redis.from_url(redis_server_url)
    yield client
    keys = list(client.scan_iter(match=f"{redis_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 12 hours before the daily quotas reset at midnight UTC


class _AtNoon(datetime):
    """datetime whose now() is NOON: daily quota days and resets that cannot straddle midnight."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _AtNoon:
        return cls.fromtimestamp(NOON.timestamp(), tz)


@pytest.fixture
def noon(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The wall clock of the daily quotas stands at NOON (run at 23:59:50, two requests fell on two days)."""
    monkeypatch.setattr("tasks.market_data.rate_limit.datetime", _AtNoon)
    return NOON
