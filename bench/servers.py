"""Child processes of the benchmark: the servers under test, the load and publisher processes, /proc readings."""

from __future__ import annotations

import hashlib
import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAIN_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "gunicorn").exists() else Path(sys.executable).parent
PEER_VENV = ROOT / "bench" / ".venv-peer"
PEER_BIN = PEER_VENV / "bin"
PEER_REQUIREMENTS = ROOT / "bench" / "requirements-peer.txt"
CLK_TCK = os.sysconf("SC_CLK_TCK")
STATIC_TOKEN = "bench-static-token"

_running: list[Proc] = []


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_peer_venv(log: Any = print) -> Path:
    """bench/.venv-peer with requirements-peer.txt installed (re-installed when that file changes)."""
    digest = hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = PEER_VENV / f".installed-{digest}"
    if stamp.exists():
        return PEER_BIN
    log(f"creating {PEER_VENV.relative_to(ROOT)} (Django, channels, channels-redis, daphne, py-spy, pyinstrument)")
    if not (PEER_BIN / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, timeout=300)
    subprocess.run([str(PEER_BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(PEER_REQUIREMENTS)], check=True, timeout=900)
    for old in PEER_VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return PEER_BIN


# -- /proc ------------------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # fields from `state` on (the name may hold spaces)


def tree_pids(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_rss_kib(root: int) -> int:
    """Resident set size of the whole process tree, KiB (VmRSS summed)."""
    total = 0
    for pid in tree_pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU time of the process tree so far."""
    total = 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores from /proc/stat: busy includes irq and softirq time."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return float(total - idle), float(total)


def send_backlog(port: int) -> dict[str, int]:
    """Bytes the server on `port` has written but its clients have not read yet (kernel send queues)."""
    try:
        lines = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"], check=False,
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired):
        return {}
    queued = [int(line.split()[1]) for line in lines if len(line.split()) >= 2 and line.split()[1].isdigit()]
    return {"sockets": len(queued), "backlogged": sum(1 for q in queued if q > 0), "bytes": sum(queued),
            "over_32k": sum(1 for q in queued if q > 32768)}


# -- processes --------------------------------------------------------------------------------------
class Proc:
    """A child in its own process group, output to a log file; stop() ends the whole group."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path,
                 pipes: bool = False) -> None:
        self.name, self.args, self.env = name, args, dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.pipes = pipes
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self) -> Proc:
        """Launch."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stderr=log, start_new_session=True,
            stdout=subprocess.PIPE if self.pipes else log, stdin=subprocess.PIPE if self.pipes else subprocess.DEVNULL,
        )
        _running.append(self)
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """True while it runs."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 2000) -> str:
        """The end of its log."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        """TERM the group, then KILL if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self in _running:
            _running.remove(self)

    # JSON-lines conversation (load and publisher processes).
    def read_json(self, timeout: float) -> dict[str, Any]:
        """The next JSON line from its stdout."""
        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError(f"{self.name}: no answer within {timeout}s\n{self.log_tail()}")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited\n{self.log_tail()}")
        return json.loads(line)  # type: ignore[no-any-return]

    def send(self, cmd: dict[str, Any]) -> None:
        """Write one command."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(cmd) + "\n").encode())
        self.process.stdin.flush()

    def call(self, cmd: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        """Send a command and return its answer."""
        self.send(cmd)
        answer = self.read_json(timeout)
        if "error" in answer:
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return answer


def stop_all() -> None:
    """Stop every child still running (the benchmark's finally)."""
    for proc in reversed(list(_running)):
        proc.stop(timeout=5)


def _wait(proc: Proc, ready: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited while starting:\n{proc.log_tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{proc.name}: {what} not ready after {timeout}s:\n{proc.log_tail()}")
        time.sleep(0.1)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status < 500)
    except OSError:
        return False


def start_behind_nginx(env: Mapping[str, str], log_dir: Path, hosts: int) -> Proc:
    """`hosts` gunicorn+gevent processes (one worker each) behind deploy/nginx/pricewire.conf, in one process tree.

    The tree (a shell, the gunicorns, nginx) is measured as the server: its CPU and memory include nginx's.
    """
    from tests.support.nginx import prepare  # the tests' rendering of the shipped site, for loopback

    ports = [free_port() for _ in range(hosts)]
    nginx, port, _ = prepare(log_dir / f"nginx-{ports[0]}", ports, ["127.0.0.1"], connections=20_000)
    gunicorn = [str(MAIN_BIN / "gunicorn"), "-k", "gevent", "-w", "1", "--worker-connections", "10000",
                "--graceful-timeout", "3", "--timeout", "120", "wsgi:app"]
    script = " & ".join([*(shlex.join([*gunicorn, "-b", f"127.0.0.1:{p}"]) for p in ports), shlex.join(nginx)])
    proxied = {**env, "PYTHONPATH": str(ROOT), "PROXY_FIX_X_FOR": "1", "PROXY_FIX_X_PROTO": "1",
               "PROXY_FIX_X_HOST": "1"}
    server = Proc(f"ours{hosts}h-{port}", ["sh", "-c", f"{script} & wait"], proxied, log_dir).start()
    server.port = port
    for upstream in ports:
        _wait(server, lambda upstream=upstream: _http_ok(f"http://127.0.0.1:{upstream}/healthz"), 60, "gunicorn")
    _wait(server, lambda: _http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "nginx")
    return server


def start_server(kind: str, env: Mapping[str, str], log_dir: Path, workers: int = 1, hosts: int = 1) -> Proc:
    """Start one server: `ours`, `bare` or `channels`.

    `ours` is gunicorn+gevent with wsgi:app (behind nginx when hosts > 1), `bare` gunicorn+gevent with the bare
    relay, `channels` daphne.
    """
    if kind == "ours" and hosts > 1:
        return start_behind_nginx(env, log_dir, hosts)
    port = free_port()
    bind = f"127.0.0.1:{port}"
    if kind == "ours":
        args = [str(MAIN_BIN / "gunicorn"), "-k", "gevent", "-w", str(workers), "--worker-connections", "10000",
                "-b", bind, "--graceful-timeout", "3", "--timeout", "120", "wsgi:app"]
        probe = f"http://{bind}/healthz"
    elif kind == "bare":
        args = [str(MAIN_BIN / "gunicorn"), "-k", "gevent", "-w", str(workers), "--worker-connections", "10000",
                "-b", bind, "--graceful-timeout", "3", "bench.peers.bare_relay:app"]
        probe = f"http://{bind}/ws/realtime/"
    elif kind == "channels":
        args = [str(PEER_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0",
                "bench.peers.channels_peer.asgi:application"]
        probe = f"http://{bind}/ws/realtime/"
    else:
        raise ValueError(kind)
    name = f"{kind}{workers if kind != 'channels' else ''}-{port}"
    server = Proc(name, args, {**env, "PYTHONPATH": str(ROOT)}, log_dir).start()
    server.port = port
    if kind == "channels":
        _wait(server, lambda: _port_open(port), 60, "daphne")
    else:
        _wait(server, lambda: _http_ok(probe), 60, probe)
    if kind == "ours":  # every worker must have booted, not just the first
        _wait(server, lambda: len(tree_pids(server.pid)) >= workers + 1, 30, "workers")
    return server


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_json_child(name: str, args: list[str], env: Mapping[str, str], log_dir: Path,
                     timeout: float = 60) -> Proc:
    """A load or publisher process; returns once it printed its ready line."""
    child = Proc(name, args, {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}, log_dir, pipes=True).start()
    hello = child.read_json(timeout)
    if not hello.get("ready"):
        raise RuntimeError(f"{name}: unexpected first line {hello}")
    return child
