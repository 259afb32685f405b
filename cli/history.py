"""`flask history prune`: delete history older than the retention now (beat does it hourly)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from tasks.maintenance import prune_expired_history

history_cli = AppGroup("history", help="Price history and portfolio snapshots.")


@history_cli.command("prune")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Keep this many days (default: HISTORY_RETENTION_DAYS).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def prune(days: int | None, dry_run: bool) -> None:
    """Delete price history and portfolio snapshots older than the retention."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    counts = prune_expired_history(app, days=days, dry_run=dry_run)
    if not counts:
        click.echo("retention is off (HISTORY_RETENTION_DAYS=0): nothing pruned")
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(", ".join(f"{table}: {verb} {count}" for table, count in counts.items()))
