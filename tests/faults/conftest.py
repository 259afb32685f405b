"""The whole stack on a PostgreSQL and a Redis of the test's own: web (gunicorn), Celery worker and beat.

Faults are injected into these private instances only (never the shared services). After each fault
`assert_nothing_lost` checks the issue's invariants: every client's last seq equals the database's, no
seq went backwards on any channel, and no history row is duplicated.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from cli.demo import DEMO_SYMBOLS
from protocol.channels import asset_channel
from tests.app.ws.client import Closed, WsClient
from tests.app.ws.conftest import seed, servers  # noqa: F401  (fixtures of the memory-churn test)
from tests.support.private_services import PrivatePostgres, PrivateRedis
from tests.support.processes import BIN, ROOT, ManagedProcess, WebServer, service_env, start_web, start_worker
from tests.support.services import wait_for

INTERVAL = 2  # seconds between feed cycles: faults meet a busy feed


@dataclass
class Stack:
    """The running services of one fault test, and what it can check about them."""

    tmp: Path
    pg: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)
    web: WebServer | None = None
    token: str = ""

    def flask(self, *args: str) -> str:
        """Run a `flask` command against this stack; its stdout."""
        result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def start_web(self) -> WebServer:
        """Gunicorn on a free port."""
        self.web = start_web(self.env, self.tmp)
        self.processes.append(self.web)
        return self.web

    def start_worker(self, name: str = "w1") -> ManagedProcess:
        """A Celery worker (prefork, one child)."""
        worker = start_worker(self.env, self.tmp, name=name)
        self.processes.append(worker)
        return worker

    def start_beat(self, name: str = "beat") -> ManagedProcess:
        """A Celery beat with its own schedule file."""
        args = [str(BIN / "celery"), "-A", "celery_worker.celery", "beat", "--loglevel", "INFO",
                "--schedule", str(self.tmp / f"{name}-schedule")]
        beat = ManagedProcess(args, self.env, self.tmp / f"{name}.log").start()
        self.processes.append(beat)
        return beat

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.pg.url.replace("postgresql://", "postgresql+psycopg://"))

    def db_seqs(self) -> dict[str, int]:
        """Symbol -> the stored quote's seq."""
        engine = self.engine()
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.text(
                    "SELECT a.symbol, q.seq FROM quotes q JOIN assets a ON a.id = q.asset_id")).all()
            return {symbol: int(seq) for symbol, seq in rows}
        finally:
            engine.dispose()

    def duplicate_history_rows(self) -> int:
        """History rows sharing (asset, timestamp) with another: must stay 0."""
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return int(connection.execute(sa.text(
                    "SELECT count(*) FROM (SELECT asset_id, timestamp FROM price_history "
                    "GROUP BY asset_id, timestamp HAVING count(*) > 1) d")).scalar() or 0)
        finally:
            engine.dispose()

    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /health: (status code, checks)."""
        assert self.web is not None
        response = requests.get(self.web.url + "/health", timeout=20)
        return response.status_code, response.json().get("checks", {})

    def client(self) -> SeqClient:
        """A token client subscribed to every demo symbol."""
        assert self.web is not None
        return SeqClient(self.web.ws_url, self.token)


class SeqClient:
    """A socket that keeps every asset seq it got, per symbol, reconnecting (and resuming) when closed."""

    def __init__(self, url: str, token: str) -> None:
        self.urls, self.token = [url], token  # reconnects go to the last url (a test may add one)
        self.seqs: dict[str, list[int]] = {symbol: [] for symbol in DEMO_SYMBOLS}
        self.closes: list[int] = []
        self.ws = self._connect()

    def _connect(self) -> WsClient:
        ws = WsClient(self.urls[-1], token=self.token)
        try:
            ws.expect_type("connection")
            for symbol in DEMO_SYMBOLS:
                seen = self.seqs[symbol]
                data: dict[str, Any] = {"symbol": symbol}
                if seen:
                    data["last_seq"] = seen[-1]
                ws.send("subscribe_asset", data)
                self._await_ack(ws, asset_channel(symbol))
        except BaseException:
            ws.close()  # a half-made attempt must not stay subscribed on the server
            raise
        return ws

    def _await_ack(self, ws: WsClient, channel: str) -> None:
        """Read until the ack of `channel`, keeping every asset update that comes first.

        Updates of the symbols subscribed so far (snapshots, replays, live ones) arrive before this ack; dropping
        them lost a batch published while a reconnecting client was still resubscribing.
        """

        def ack(message: dict[str, Any]) -> bool:
            self._keep(message)
            return bool(message["type"] == "subscribed" and message["data"].get("channel") == channel)

        ws.expect(ack, what=f"subscribed {channel}")

    def _keep(self, message: dict[str, Any]) -> None:
        """Record the seq of an asset_update."""
        data = message.get("data") or {}
        if message["type"] == "asset_update" and data.get("symbol") in self.seqs:
            self.seqs[data["symbol"]].append(int(data["seq"]))

    def pump(self, seconds: float = 0.5) -> None:
        """Read what arrived; reconnect (resuming) once when the server closed the socket."""
        try:
            while (message := self.ws.receive(seconds)) is not None:
                self._keep(message)
        except Closed as closed:
            self.closes.append(int(closed.args[0]))
            self.ws.close()
            self.ws = wait_for(self._try_connect, timeout=60, interval=0.5, message="the client to reconnect")

    def _try_connect(self) -> WsClient | None:
        try:
            return self._connect()
        except Exception:
            return None

    def last(self) -> dict[str, int]:
        """Symbol -> the last seq received."""
        return {symbol: seen[-1] for symbol, seen in self.seqs.items() if seen}

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Private PostgreSQL and Redis, migrated and seeded (demo user and token); processes started by the test."""
    pg, bus = PrivatePostgres(), PrivateRedis(tmp_path)
    try:
        pg.init()
    except Exception:
        pg.remove()
        raise
    bus.start()
    env = service_env(pg.url, bus.url, "fault", REALTIME_UPDATE_INTERVAL=str(INTERVAL), LOG_LEVEL="INFO",
                      PRICEWIRE_INSTANCE_PATH=str(tmp_path / "instance"), CELERY_VISIBILITY_TIMEOUT="10",
                      DATA_STALE_AFTER_SECONDS="30")
    created = Stack(tmp_path, pg, bus, env)
    created.flask("db", "upgrade")
    created.flask("demo", "seed")
    created.token = created.flask("tokens", "create", "demo").strip().splitlines()[-1]
    try:
        yield created
    finally:
        for process in reversed(created.processes):
            process.stop(timeout=10)
        bus.stop()
        pg.remove()


def assert_nothing_lost(stack: Stack, client: SeqClient, timeout: float = 60) -> None:
    """After the feed stopped: the client caught up with the database, seqs never went backwards, no duplicates."""

    def caught_up() -> bool:
        client.pump(0.3)
        stored = stack.db_seqs()
        return bool(stored) and all(client.last().get(symbol) == stored.get(symbol) for symbol in DEMO_SYMBOLS)

    try:
        wait_for(caught_up, timeout=timeout, interval=0, message="every client's last seq to equal the database's")
    except AssertionError as exc:
        held = f"client {client.last()} database {stack.db_seqs()} closes {client.closes}"
        raise AssertionError(f"{exc}: {held}") from None
    for symbol, seen in client.seqs.items():
        assert seen == sorted(seen), f"{symbol}: seq went backwards: {seen}"
    assert stack.duplicate_history_rows() == 0
