"""Real server processes for integration tests: gunicorn+gevent web, Celery worker, plain scripts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.services import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(database_url: str, redis_url: str | None, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a Pricewire process under test."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST", "COV_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY="test-secret", REDIS_KEY_PREFIX=prefix, LOG_LEVEL="INFO",
               REALTIME_FETCH_WHEN_CLOSED="true")  # as tests/conftest.py: independent of the real hour
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


@dataclass
class ManagedProcess:
    """A child process with its output in a log file; stopped by `stop()`."""

    args: list[str]
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def start(self) -> ManagedProcess:
        """Launch in its own process group."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Send `signum` to the whole process group."""
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signum)

    def stop(self, timeout: float = 15) -> None:
        """TERM, then KILL if it lingers."""
        if self.process is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=timeout)


class WebServer(ManagedProcess):
    """gunicorn with gevent workers serving wsgi:app."""

    @property
    def url(self) -> str:
        """The base URL, http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.extra['port']}"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint."""
        return f"ws://127.0.0.1:{self.extra['port']}/ws/realtime/"

    def wait_ready(self, timeout: float = 30) -> WebServer:
        """Poll /healthz until the server answers."""

        def answers() -> bool:
            assert self.alive(), f"web server exited:\n{self.log()[-3000:]}"
            try:
                return requests.get(self.url + "/healthz", timeout=1).status_code in (200, 503)
            except requests.RequestException:
                return False

        wait_for(answers, timeout=timeout, interval=0.1, message="gunicorn to answer")
        return self


def start_web(env: Mapping[str, str], log_dir: Path, workers: int = 1, port: int | None = None) -> WebServer:
    """Start gunicorn+gevent on a free port and wait until it answers."""
    port = port or free_port()
    args = [str(BIN / "gunicorn"), "-k", "gevent", "-w", str(workers), "-b", f"127.0.0.1:{port}",
            "--graceful-timeout", "3", "wsgi:app"]
    server = WebServer(args, env, log_dir / f"gunicorn-{port}.log", extra={"port": port})
    server.start()
    return server.wait_ready()


def start_worker(env: Mapping[str, str], log_dir: Path, name: str = "w1", concurrency: int = 1,
                 timeout: float = 60) -> ManagedProcess:
    """Start a Celery worker and wait until it says it is ready."""
    args = [str(BIN / "celery"), "-A", "celery_worker.celery", "worker", "-P", "prefork", "-c", str(concurrency),
            "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
    worker = ManagedProcess(args, env, log_dir / f"celery-{name}.log").start()
    wait_for(lambda: "ready." in worker.log() or not worker.alive(), timeout=timeout, interval=0.1,
             message="celery worker to be ready")
    assert worker.alive(), f"celery worker exited:\n{worker.log()[-3000:]}"
    return worker
