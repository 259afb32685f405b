"""The embedded server's marker (infra.local_server): written private, removed by its owner only, pid checked."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from flask import Flask

from infra.local_server import TOKEN_EXTENSION, marker_path, remove_marker, running_server, write_marker
from tests.support import embedded
from tests.support.embedded import pretend_server

own_instance, other_process = embedded.own_instance, embedded.other_process  # fixtures


def test_write_and_remove_marker(own_instance: Flask) -> None:
    path = write_marker(own_instance, "http://127.0.0.1:8000")
    marker = json.loads(path.read_text())
    assert marker["url"] == "http://127.0.0.1:8000" and marker["token"] == own_instance.extensions[TOKEN_EXTENSION]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the token lets a local process read the live state
    assert running_server(own_instance) is None  # this very process is not "another" server
    remove_marker(own_instance)
    assert not path.exists()


def test_a_live_other_process_is_the_running_server(own_instance: Flask, other_process: int) -> None:
    pretend_server(own_instance, other_process)
    assert running_server(own_instance) == {"pid": other_process, "url": "http://127.0.0.1:8765", "token": "t0ken"}
    remove_marker(own_instance)  # not ours: left alone
    assert running_server(own_instance) is not None


def test_a_dead_pid_or_a_broken_marker_is_no_server(own_instance: Flask) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)
    pretend_server(own_instance, int(finished.stdout))
    assert running_server(own_instance) is None
    marker_path(own_instance).write_text("{not json")
    assert running_server(own_instance) is None
