"""Fixtures for the embedded server's marker: a stand-in server process and a private instance directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from infra.local_server import marker_path


@pytest.fixture
def own_instance(app: Flask, tmp_path: Path) -> Flask:
    """The app with markers in a temporary instance directory, never the checkout's."""
    app.instance_path = str(tmp_path)
    return app


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live process that is not this one (stands in for `make run`)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def pretend_server(app: Flask, pid: int, url: str = "http://127.0.0.1:8765", token: str = "t0ken") -> None:
    """A marker naming `pid` as the embedded server at `url`."""
    marker_path(app).parent.mkdir(parents=True, exist_ok=True)
    marker_path(app).write_text(json.dumps({"pid": pid, "url": url, "token": token}))
