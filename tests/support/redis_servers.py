"""Redis servers of a test's own on loopback ports: a Sentinel group or a Cluster, to kill (never the shared one)."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.processes import ManagedProcess, free_port
from tests.support.services import unavailable, wait_for


def redis_binary() -> str:
    """redis-server, or skip (fail under CI)."""
    found = shutil.which("redis-server")
    if found is None:
        unavailable("redis", "no redis-server binary for private instances")
    assert found is not None
    return found


@dataclass
class RedisNode:
    """One redis-server (or sentinel) process on its own port and directory."""

    port: int
    process: ManagedProcess

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except (redis.RedisError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: the crash a failover is for."""
        assert self.process.process is not None
        self.process.signal(signal.SIGKILL)
        self.process.process.wait(timeout=10)

    def stop(self) -> None:
        self.process.stop(timeout=5)


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too (so at most 55535)."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError("no free port pair for a cluster node")


def start_node(directory: Path, *options: str, sentinel: bool = False) -> RedisNode:
    """A redis-server with `options` (a sentinel when `sentinel`), answering PING."""
    port = cluster_port() if "--cluster-enabled" in options else free_port()
    home = directory / str(port)
    home.mkdir(parents=True)
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(home), "--save", "", "--appendonly", "no"]
    if sentinel:
        config = home / "sentinel.conf"
        config.write_text("\n".join(options) + "\n")
        command = [redis_binary(), str(config), "--sentinel", "--port", str(port), "--bind", "127.0.0.1"]
    else:
        command = [redis_binary(), *args, *options]
    node = RedisNode(port, ManagedProcess(command, {}, home / "log").start())
    wait_for(node.answers, timeout=10, interval=0.05, message=f"redis on {port}")
    return node


@dataclass
class SentinelGroup:
    """A master, one replica and three sentinels watching them as `name`."""

    master: RedisNode
    replica: RedisNode
    sentinels: list[RedisNode]
    name: str = "pwmaster"

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}/0"

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers says it."""
        for node in self.sentinels:
            try:
                return int(node.client().sentinel_get_master_addr_by_name(self.name)[1])
            except (redis.RedisError, OSError, TypeError):
                continue
        return None

    def stop(self) -> None:
        for node in [*self.sentinels, self.replica, self.master]:
            node.stop()


def start_sentinel_group(directory: Path) -> SentinelGroup:
    """Master + replica in sync, three sentinels (quorum 2) that fail over within a couple of seconds."""
    master = start_node(directory)
    replica = start_node(directory, "--replicaof", "127.0.0.1", str(master.port))
    wait_for(lambda: master.client().info("replication").get("connected_slaves") == 1, timeout=15, interval=0.1,
             message="replica to attach")
    name = "pwmaster"
    config = [f"sentinel monitor {name} 127.0.0.1 {master.port} 2", f"sentinel down-after-milliseconds {name} 1000",
              f"sentinel failover-timeout {name} 4000", f"sentinel parallel-syncs {name} 1"]
    sentinels = [start_node(directory, *config, sentinel=True) for _ in range(3)]
    group = SentinelGroup(master, replica, sentinels, name)
    wait_for(lambda: all(int(n.client().sentinel_master(name).get("num-other-sentinels", 0)) == 2 for n in sentinels),
             timeout=20, interval=0.2, message="sentinels to see each other")
    return group


@dataclass
class RedisCluster:
    """Three masters with one replica each, slots spread by redis-cli."""

    nodes: list[RedisNode]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def node(self, port: int) -> RedisNode:
        return next(node for node in self.nodes if node.port == port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_cluster(directory: Path, masters: int = 3) -> RedisCluster:
    """`redis-cli --cluster create` over 2 x `masters` fresh nodes; ready when every slot is served."""
    options = ("--cluster-enabled", "yes", "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0")
    nodes = [start_node(directory, *options) for _ in range(2 * masters)]
    addresses = [f"127.0.0.1:{node.port}" for node in nodes]
    subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
                   check=True, capture_output=True, timeout=60)
    cluster = RedisCluster(nodes)
    wait_for(lambda: all(_cluster_ok(node) for node in nodes), timeout=30, interval=0.2, message="cluster state ok")
    return cluster


def _cluster_ok(node: RedisNode) -> bool:
    try:
        info = node.client().cluster("info")
    except (redis.RedisError, OSError):
        return False
    return bool(info.get("cluster_state") == "ok")
