"""The embedded server's marker, and what the CLI does with it (refuse a second feed, point at the server)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cli import register_cli
from tasks.embedded_server import marker_path, remove_marker, running_server, write_marker


@pytest.fixture(autouse=True)
def own_instance(app: Flask, tmp_path: Path) -> None:
    """Markers go to a temporary instance directory, never the checkout's."""
    app.instance_path = str(tmp_path)


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live process that is not this one (stands in for `make run`)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def pretend_server(app: Flask, pid: int, url: str = "http://127.0.0.1:8765") -> None:
    marker_path(app).parent.mkdir(parents=True, exist_ok=True)
    marker_path(app).write_text(json.dumps({"pid": pid, "url": url}))


def test_write_and_remove_marker(app: Flask) -> None:
    path = write_marker(app, "http://127.0.0.1:8000")
    assert json.loads(path.read_text())["url"] == "http://127.0.0.1:8000"
    assert running_server(app) is None  # this very process is not "another" server
    remove_marker(app)
    assert not path.exists()


def test_a_live_other_process_is_the_running_server(app: Flask, other_process: int) -> None:
    pretend_server(app, other_process)
    assert running_server(app) == {"pid": other_process, "url": "http://127.0.0.1:8765"}
    remove_marker(app)  # not ours: left alone
    assert running_server(app) is not None


def test_a_dead_pid_or_a_broken_marker_is_no_server(app: Flask) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)
    pretend_server(app, int(finished.stdout))
    assert running_server(app) is None
    marker_path(app).write_text("{not json")
    assert running_server(app) is None


def test_feed_start_refuses_a_second_feed(app: Flask, other_process: int) -> None:
    register_cli(app)
    pretend_server(app, other_process)
    result = app.test_cli_runner().invoke(args=["feed", "start"])
    assert result.exit_code == 1
    assert f"the server (pid {other_process}, http://127.0.0.1:8765) already runs the embedded feed" in result.output


def test_monitor_and_status_point_at_the_running_server(app: Flask, other_process: int) -> None:
    register_cli(app)
    pretend_server(app, other_process)
    monitor = app.test_cli_runner().invoke(args=["ws", "monitor"])
    status = app.test_cli_runner().invoke(args=["feed", "status"])
    expected = f"(pid {other_process}): its live state is at http://127.0.0.1:8765/api/realtime/connections"
    assert expected in monitor.output
    assert "http://127.0.0.1:8765/api/realtime/status" in status.output
