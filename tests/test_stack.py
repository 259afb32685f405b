"""`make stack`'s processes start on a fresh clone: nothing may assume instance/ exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import ROOT, ManagedProcess, service_env
from tests.support.services import wait_for


def procfile_command(name: str) -> str:
    """The shell command of one Procfile process."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            return command.strip()
    raise AssertionError(f"Procfile has no {name}")


@pytest.mark.timeout(90)
def test_beat_starts_without_an_instance_directory(tmp_path: Path, pg_url: str, redis_server_url: str,
                                                   redis_prefix: str) -> None:
    """With SECRET_KEY set nothing stores a key, so beat itself must make the directory for its schedule."""
    instance = tmp_path / "fresh-clone" / "instance"
    env = service_env(pg_url, redis_server_url, redis_prefix, PRICEWIRE_INSTANCE_PATH=str(instance))
    assert env["SECRET_KEY"]
    beat = ManagedProcess(["/bin/sh", "-c", "exec " + procfile_command("beat")], env, tmp_path / "beat.log").start()
    try:
        wait_for(lambda: not beat.alive() or any(instance.glob("celerybeat-schedule*")), timeout=60, interval=0.2,
                 message="beat to write its schedule")
        assert beat.alive(), f"beat exited:\n{beat.log()[-3000:]}"
    finally:
        beat.stop()

