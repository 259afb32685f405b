"""Redis connections from one URL: a plain server, or the master that Redis Sentinel names.

redis://, rediss:// and unix:// go to one server; redis+sentinel://host:port,host:port/master/db asks the
sentinels for the master on every new connection, so a failover needs no restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
SENTINEL_TIMEOUT = 1.0  # a sentinel that does not answer within this is skipped for the next one


@dataclass(frozen=True)
class SentinelTarget:
    """Where the sentinels are and which master (and database) to ask them for."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def is_sentinel(url: str | None) -> bool:
    """True for a redis+sentinel:// URL."""
    return bool(url) and str(url).startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelTarget:
    """redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db]; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"expected {SENTINEL_SCHEME}://")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    sentinels = []
    for item in filter(None, hosts.split(",")):
        host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
        if not port.isdigit() and port:
            raise ValueError(f"bad sentinel port in {item!r}")
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    path = [segment for segment in parts.path.split("/") if segment]
    if not sentinels:
        raise ValueError("name at least one sentinel host:port")
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("the path must be /<master name>[/<db number>]")
    return SentinelTarget(tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
                          unquote(username) or None, unquote(password) or None)


def redacted(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, hosts = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.partition(':')[0]}:***@{hosts}"


def sentinel_url(sentinels: str, master: str, db: int = 0) -> str:
    """The URL form of REDIS_SENTINELS (host:port,host:port) and REDIS_SENTINEL_MASTER."""
    return f"{SENTINEL_SCHEME}://{sentinels.replace(' ', '')}/{master}/{db}"


def _sentinel(target: SentinelTarget) -> Sentinel:
    return Sentinel(list(target.sentinels), socket_timeout=SENTINEL_TIMEOUT,
                    sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT})


def redis_client(url: str, **options: Any) -> redis.Redis:
    """A client of the server `url` names; for Sentinel, of whichever server is the master right now."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    target = parse_sentinel_url(url)
    client: redis.Redis = _sentinel(target).master_for(target.master, db=target.db, username=target.username,
                                                       password=target.password, **options)
    return client


def current_master(url: str | None) -> str | None:
    """host:port of the master the sentinels name now (None for a plain URL or when none answers)."""
    if not is_sentinel(url):
        return None
    target = parse_sentinel_url(str(url))
    try:
        host, port = _sentinel(target).discover_master(target.master)
    except (redis.RedisError, OSError):
        return None
    return f"{host}:{port}"


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and the transport options it needs (kombu speaks Sentinel through its own scheme)."""
    if not is_sentinel(url):
        return url, {}
    target = parse_sentinel_url(url)
    credentials = ""
    if target.password:
        credentials = f"{target.username or ''}:{target.password}@"
    broker = ";".join(f"sentinel://{credentials}{host}:{port}/{target.db}" for host, port in target.sentinels)
    return broker, {"master_name": target.master, "sentinel_kwargs": {"socket_timeout": SENTINEL_TIMEOUT}}
