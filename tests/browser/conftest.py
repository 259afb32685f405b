"""Fixtures: the embedded server (`python wsgi.py`) on a throwaway SQLite file, and Chromium via Playwright."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ROOT, WebServer, free_port, service_env
from tests.support.services import unavailable

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 375, "height": 812}
WEEKDAY_SESSION = "2026-11-25T16:00:00Z"  # Wednesday 11:00 New York


class EmbeddedServer:
    """`python wsgi.py` on a fixed port, stoppable and restartable with the same database and secret."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = port
        self.process: WebServer | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The base URL, http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedServer:
        """Launch and wait until /healthz answers."""
        self.starts += 1
        log = self.log_dir / f"wsgi-{self.port}-{self.starts}.log"
        server = WebServer([sys.executable, "wsgi.py"], self.env, log, extra={"port": self.port})
        self.process = server
        server.start()
        server.wait_ready(timeout=60)
        return self

    def stop(self) -> None:
        """Stop the process (TERM, then KILL)."""
        if self.process is not None:
            self.process.stop()

    def log(self) -> str:
        """Output of the current process."""
        return self.process.log() if self.process else ""


def _flask(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def start_seeded_server(tmp: Path, **extra: str) -> EmbeddedServer:
    """The embedded server on a fresh SQLite file with the demo user seeded, feed every second."""
    port = free_port()
    env = service_env(
        f"sqlite:///{tmp / 'pw.db'}", None, "pwbrowser", PORT=str(port), REALTIME_UPDATE_INTERVAL="1",
        PRICEWIRE_INSTANCE_PATH=str(tmp / "instance"), SECRET_KEY="browser-test-secret", **extra,
    )
    _flask(env, "db", "upgrade")
    _flask(env, "demo", "seed")
    return EmbeddedServer(env, tmp, port).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """The embedded server with the demo user seeded, feed every second; stopped after the module.

    Its market clock stands in a Wednesday session, so the US demo stocks trade whatever day this runs.
    """
    embedded = start_seeded_server(tmp_path_factory.mktemp("browser"), MARKET_CLOCK=WEEKDAY_SESSION)
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        unavailable("chromium", f"{path} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("chromium", f"the playwright package is missing: {exc}")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
