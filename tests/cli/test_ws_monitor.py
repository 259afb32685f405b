"""`flask ws monitor [--detailed] [--user NAME] [--export FILE]`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask

from app.realtime.cluster import ClusterState
from cli import register_cli
from models import User, db
from tests.app.api_helpers import FakeConnectionManager, redis_backed_app, use_fake_manager


def run(app: Flask, *args: str) -> Result:
    register_cli(app)
    return app.test_cli_runner().invoke(args=["ws", "monitor", *args])


def add_user(name: str) -> User:
    user = User(username=name)
    user.set_password("pw")
    db.session.add(user)
    db.session.commit()
    return user


def test_summary_in_embedded_mode(app: Flask) -> None:
    result = run(app)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "cluster-wide (embedded mode)" in lines[0]
    assert "  connections              0" in lines
    assert "  portfolio subscriptions  0" in lines
    assert any("price feed" in line and "NOT running" in line for line in lines)
    assert any("no prices stored" in line for line in lines)
    assert "embedded mode the sockets live inside the server process" in result.output


def test_unknown_user_exits_2(app: Flask) -> None:
    result = run(app, "--user", "nobody")
    assert result.exit_code == 2
    assert "no user 'nobody'" in result.output


def test_unavailable_counts_exit_1(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_manager(monkeypatch, FakeConnectionManager(fail=True))
    result = run(app)
    assert result.exit_code == 1
    assert "connections              unavailable" in result.output and "redis down" in result.output


def test_export_writes_json(app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "stats.json"
    result = run(app, "--export", str(target))
    assert result.exit_code == 0, result.output
    assert f"exported to {target}" in result.output
    report = json.loads(target.read_text())
    assert report["mode"] == "embedded"
    assert report["connections"] == {"total_connections": 0, "authenticated_users": 0, "asset_subscriptions": 0,
                                     "portfolio_subscriptions": 0}
    assert report["price_feed"]["running"] is False and report["data_freshness"] is None
    assert "processes" not in report and "users" not in report


@pytest.fixture
def redis_app(redis_server_url: str, redis_prefix: str) -> Iterator[Flask]:
    """SQLite for users, the real Redis for the cluster's connection state."""
    with redis_backed_app("sqlite://", redis_server_url, redis_prefix) as application:
        yield application


def publish_process(url: str, prefix: str, instance: str, sockets: dict[int, list[dict[str, object]]]) -> None:
    """What a web process's stats heartbeat writes to Redis."""
    count = sum(len(items) for items in sockets.values())
    assets = sum(1 for items in sockets.values() for item in items for channel in item["subscriptions"]
                 if str(channel).startswith("asset:"))
    summary = {"instance": instance, "connections": count, "authenticated_users": len(sockets),
               "asset_subscriptions": assets, "portfolio_subscriptions": 0, "channels": assets,
               "bus_state": "connected", "messages_sent": 10, "messages_dropped": 1, "updated_at": 1_700_000_000.0}
    cluster = ClusterState(url, prefix)
    cluster.write_process(instance, summary, sockets)
    cluster.client.close()


def socket_of(user: User, connection_id: str, process: str, *channels: str) -> dict[str, object]:
    return {"connection_id": connection_id, "user_id": user.id, "subscriptions": list(channels),
            "connected_at": 1_700_000_000.0, "remote_addr": "10.0.0.9", "messages_sent": 5,
            "messages_dropped": 0, "queued": 0, "process": process}


@pytest.mark.integration
def test_detailed_and_user_views_across_processes(redis_app: Flask, redis_server_url: str, redis_prefix: str,
                                                  tmp_path: Path) -> None:
    alice, bob = add_user("alice"), add_user("bob")
    publish_process(redis_server_url, redis_prefix, "web1:11",
                    {alice.id: [socket_of(alice, "a1", "web1:11", "asset:AAPL", "asset:MSFT")],
                     bob.id: [socket_of(bob, "b1", "web1:11", "asset:TSLA")]})
    publish_process(redis_server_url, redis_prefix, "web2:22",
                    {alice.id: [socket_of(alice, "a2", "web2:22", "asset:AAPL")]})

    summary = run(redis_app)
    assert summary.exit_code == 0, summary.output
    assert "(redis mode)" in summary.output
    assert "  connections              3" in summary.output
    assert "  authenticated users      2" in summary.output
    assert "  asset subscriptions      4" in summary.output
    assert "Connections (" not in summary.output

    target = tmp_path / "detailed.json"
    detailed = run(redis_app, "--detailed", "--export", str(target))
    assert detailed.exit_code == 0, detailed.output
    assert "Processes (2):" in detailed.output
    assert "web1:11: 2 connections, 2 users" in detailed.output and "updated 2023-11-14T22:13:20Z" in detailed.output
    assert "Connections (3):" in detailed.output
    assert f"alice ({alice.id}) a2 on web2:22 since 2023-11-14T22:13:20Z from 10.0.0.9" in detailed.output
    report = json.loads(target.read_text())
    assert [item["instance"] for item in report["processes"]] == ["web1:11", "web2:22"]
    by_user = {entry["username"]: [c["connection_id"] for c in entry["connections"]] for entry in report["users"]}
    assert by_user == {"alice": ["a1", "a2"], "bob": ["b1"]}

    only_bob = run(redis_app, "--user", "bob")
    assert only_bob.exit_code == 0, only_bob.output
    assert "Connections (1):" in only_bob.output and f"bob ({bob.id}) b1" in only_bob.output
    assert "alice" not in only_bob.output and "Processes" not in only_bob.output
