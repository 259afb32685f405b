"""`flask ws monitor`: the reference's monitor_websockets command (cluster-wide, from the Redis heartbeats)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.api.monitoring import connection_manager, connection_stats, data_freshness, epoch_to_iso, feed_status
from cli.embedded import embedded_note, server_state
from infra.settings import get_settings
from models import User, db
from protocol.wire import dumps, iso

ws_cli = AppGroup("ws", help="Inspect WebSocket connections.")

STAT_LABELS = (
    ("total_connections", "connections"),
    ("authenticated_users", "authenticated users"),
    ("asset_subscriptions", "asset subscriptions"),
    ("portfolio_subscriptions", "portfolio subscriptions"),
)


def _connection(item: dict[str, Any], usernames: dict[int, str]) -> dict[str, Any]:
    username = usernames.get(item["user_id"]) if isinstance(item.get("user_id"), int) else None
    return {**item, "username": username, "connected_at": epoch_to_iso(item.get("connected_at"))}


def _connected_user_ids() -> list[int]:
    """Users with a socket on any web process (empty in embedded mode: the state lives in the server)."""
    from app.realtime.stats import get_cluster

    cluster = get_cluster(current_app)
    return sorted(cluster.user_ids()) if cluster is not None else []


def collect(detailed: bool, user: User | None) -> dict[str, Any]:
    """Everything the command shows, as one JSON-ready document."""
    feed = feed_status()
    report: dict[str, Any] = {
        "timestamp": iso(datetime.now(UTC)),
        "mode": "embedded" if get_settings().embedded else "redis",
        "connections": connection_stats(),
        "price_feed": {key: feed.get(key) for key in
                       ("running", "last_update", "last_cycle_duration", "assets_tracked", "update_interval",
                        "failed_symbols", "error") if key in feed},
        "data_freshness": data_freshness(),
    }
    state = server_state(current_app, detailed) if get_settings().embedded else None
    if state is not None:  # embedded mode: the server's live numbers, not this process's zeros
        report.update(connections=state["connections"], data_freshness=state["data_freshness"],
                      server=state["server"], price_feed={key: state["price_feed"].get(key) for key in
                                                          report["price_feed"] if key in state["price_feed"]})
        if detailed:
            report["processes"] = [{**item, "updated_at": epoch_to_iso(item.get("updated_at"))}
                                   for item in state.get("processes", [])]
        return report
    if not (detailed or user):
        return report
    manager = connection_manager()
    if detailed:
        report["processes"] = [{**item, "updated_at": epoch_to_iso(item.get("updated_at"))}
                               for item in manager.process_stats()]
    user_ids = [user.id] if user is not None else _connected_user_ids()
    usernames = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).tuples().all())
    report["users"] = [
        {"user_id": user_id, "username": usernames.get(user_id),
         "connections": [_connection(item, usernames) for item in manager.get_user_connections(user_id)]}
        for user_id in user_ids
    ]
    return report


def _echo_summary(report: dict[str, Any]) -> None:
    stats = report["connections"]
    click.echo(f"WebSocket connections, cluster-wide ({report['mode']} mode) at {report['timestamp']}")
    for key, label in STAT_LABELS:
        value = stats.get(key)
        click.echo(f"  {label:<24} {'unavailable' if value is None else value}")
    if stats.get("error"):
        click.echo(f"  ({stats['error']})")
    feed = report["price_feed"]
    state = "running" if feed.get("running") else "NOT running"
    click.echo(f"  {'price feed':<24} {state}, {feed.get('assets_tracked', 0)} assets, "
               f"last update {feed.get('last_update') or 'never'}")
    freshness = report["data_freshness"]
    age = "no prices stored" if freshness is None else (
        f"newest price {freshness['seconds_since_update']} s old" + (" (STALE)" if freshness["is_stale"] else ""))
    click.echo(f"  {'data':<24} {age}")
    if report["mode"] == "embedded":
        click.echo(f"  note: {embedded_note(current_app, report.get('server') and report)}")


def _echo_processes(processes: list[dict[str, Any]]) -> None:
    click.echo(f"\nProcesses ({len(processes)}):")
    for item in processes:
        click.echo(f"  {item.get('instance', '?')}: {item.get('connections', 0)} connections, "
                   f"{item.get('authenticated_users', 0)} users, {item.get('asset_subscriptions', 0)} asset / "
                   f"{item.get('portfolio_subscriptions', 0)} portfolio subscriptions, "
                   f"{item.get('channels', 0)} channels, bus {item.get('bus_state', '?')}, "
                   f"sent {item.get('messages_sent', 0)}, dropped {item.get('messages_dropped', 0)}, "
                   f"updated {item.get('updated_at')}")


def _echo_connections(users: list[dict[str, Any]]) -> None:
    connections = [item for entry in users for item in entry["connections"]]
    click.echo(f"\nConnections ({len(connections)}):")
    for item in connections:
        subscriptions = ", ".join(item.get("subscriptions") or []) or "-"
        click.echo(f"  {item.get('username') or '?'} ({item.get('user_id')}) {item.get('connection_id')} "
                   f"on {item.get('process', '?')} since {item.get('connected_at')} from "
                   f"{item.get('remote_addr') or '?'}: sent {item.get('messages_sent', 0)}, "
                   f"dropped {item.get('messages_dropped', 0)}, queued {item.get('queued', 0)}; {subscriptions}")


@ws_cli.command("monitor")
@click.option("--detailed", is_flag=True, help="Also show every web process and every connection.")
@click.option("--user", "username", metavar="NAME", help="Show only this user's connections.")
@click.option("--export", "export_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the statistics as JSON to FILE.")
def monitor(detailed: bool, username: str | None, export_path: Path | None) -> None:
    """Show WebSocket connection statistics across all web processes."""
    user = None
    if username is not None:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.BadParameter(f"no user {username!r}", param_hint="--user")
    try:
        report = collect(detailed, user)
    except Exception as exc:  # e.g. Redis down while listing connections
        raise click.ClickException(f"connection information unavailable: {exc}") from exc
    _echo_summary(report)
    if "processes" in report:
        _echo_processes(report["processes"])
    if "users" in report:
        _echo_connections(report["users"])
    if export_path is not None:
        export_path.write_text(dumps(report) + "\n")
        click.echo(f"\nexported to {export_path}")
    if report["connections"].get("error"):
        click.get_current_context().exit(1)
