"""Redis and PostgreSQL instances of a test's own, on free loopback ports: to kill, freeze and restart.

Never the shared services. PostgreSQL is Debian's binaries (initdb, pg_ctl) on a data directory in the
test's temporary directory, run as the `postgres` user when the tests run as root (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import redis
import sqlalchemy as sa

from tests.support.processes import ManagedProcess, free_port
from tests.support.services import unavailable, wait_for


class PrivateRedis:
    """A redis-server of our own on a fixed port, to kill, freeze and restart (never the shared one)."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.process: ManagedProcess | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port; wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis", "no redis-server binary for a private instance")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = ManagedProcess(args, {}, self.log_dir / f"redis-{self.port}.log").start()
        wait_for(self.answers, timeout=10, interval=0.05, message="private redis to answer")

    def answers(self) -> bool:
        """True when PING works."""
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: no goodbye to any client."""
        assert self.process is not None and self.process.process is not None
        self.process.signal(signal.SIGKILL)
        self.process.process.wait(timeout=10)

    def freeze(self, frozen: bool) -> None:
        """SIGSTOP (connections stay open, nothing answers) or SIGCONT."""
        assert self.process is not None
        self.process.signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def stop(self) -> None:
        """Stop for good (thawed first)."""
        if self.process is not None and self.process.alive():
            self.process.signal(signal.SIGCONT)
            self.process.stop(timeout=5)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        unavailable("postgresql", f"no {name} under /usr/lib/postgresql/*/bin for a private instance")
    return found[-1]


class PrivatePostgres:
    """A PostgreSQL cluster of our own (trust auth on 127.0.0.1), started and stopped with pg_ctl."""

    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        self.base = Path(tempfile.mkdtemp(prefix=f"pricewire-pg-{self.port}-"))
        self.data = self.base / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/pricewire"
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = list(args) if self._user is None else ["runuser", "-u", self._user, "--", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=check)

    def init(self) -> None:
        """Initdb into the test's directory, start, create the `pricewire` database."""
        if self._user is not None:
            shutil.chown(self.base, self._user)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "pricewire")

    def start(self) -> None:
        """pg_ctl start on our port (sockets in the data directory, not /var/run)."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.base / "log"), "-w",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop (fast: clients are disconnected)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        """Stop and delete the cluster's files."""
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def answers(self) -> bool:
        """True when a query works."""
        engine = sa.create_engine(self.url.replace("postgresql://", "postgresql+psycopg://"),
                                  connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text("SELECT 1")).scalar() == 1
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()
