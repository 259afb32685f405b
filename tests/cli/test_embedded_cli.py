"""Embedded mode from the CLI: a second feed is refused; status and monitor show the running server's live state."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cli import register_cli
from infra.local_server import TOKEN_EXTENSION, TOKEN_HEADER
from tests.support import embedded
from tests.support.embedded import pretend_server

own_instance, other_process = embedded.own_instance, embedded.other_process  # fixtures

TOKEN = "s3cret"


@pytest.fixture
def served(own_instance: Flask) -> Iterator[str]:
    """The app served on a loopback port in a thread, holding TOKEN as the embedded server does."""
    own_instance.extensions[TOKEN_EXTENSION] = TOKEN
    server = make_server("127.0.0.1", 0, own_instance, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_feed_start_refuses_a_second_feed(own_instance: Flask, other_process: int) -> None:
    register_cli(own_instance)
    pretend_server(own_instance, other_process)
    result = own_instance.test_cli_runner().invoke(args=["feed", "start"])
    assert result.exit_code == 1
    assert f"the server (pid {other_process}, http://127.0.0.1:8765) already runs the embedded feed" in result.output


def test_status_and_monitor_show_the_servers_live_state(own_instance: Flask, other_process: int, served: str) -> None:
    register_cli(own_instance)
    pretend_server(own_instance, other_process, served, TOKEN)
    status = own_instance.test_cli_runner().invoke(args=["feed", "status", "--json"])
    monitor = own_instance.test_cli_runner().invoke(args=["ws", "monitor", "--export", "/dev/null"])
    assert status.exit_code == 0, status.output
    assert '"update_interval": 30' in status.output
    assert monitor.exit_code == 0, monitor.output
    assert f"embedded mode: the live state of the server (pid {other_process}, {served})" in monitor.output


def test_an_unanswering_server_is_said_so(own_instance: Flask, other_process: int) -> None:
    register_cli(own_instance)
    pretend_server(own_instance, other_process, "http://127.0.0.1:9")  # nothing listens on the discard port
    monitor = own_instance.test_cli_runner().invoke(args=["ws", "monitor"])
    assert f"the server (pid {other_process}) did not answer" in monitor.output


def test_the_local_endpoint_wants_loopback_and_the_token(own_instance: Flask) -> None:
    client = own_instance.test_client()
    assert client.get("/api/local/status").status_code == 403  # no token kept: not an embedded server
    own_instance.extensions[TOKEN_EXTENSION] = TOKEN
    assert client.get("/api/local/status", headers={TOKEN_HEADER: "wrong"}).status_code == 403
    remote = client.get("/api/local/status", headers={TOKEN_HEADER: TOKEN}, environ_base={"REMOTE_ADDR": "10.0.0.8"})
    assert remote.status_code == 403
    local = client.get("/api/local/status?detailed=1", headers={TOKEN_HEADER: TOKEN})
    assert local.status_code == 200
    assert set(local.json) >= {"price_feed", "connections", "data_freshness", "processes"}
