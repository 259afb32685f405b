"""README's CLI table names every `flask` command this project registers."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from cli import register_cli

ROOT = Path(__file__).resolve().parents[2]


def test_readme_lists_every_command(app: Flask) -> None:
    register_cli(app)
    readme = (ROOT / "README.md").read_text()
    commands = [f"flask {name} {sub}" for name, group in app.cli.commands.items()
                if isinstance(group, click.Group) and name not in ("db", "routes", "run", "shell")
                for sub in group.commands]
    assert commands and [command for command in commands if f"`{command}" not in readme] == []
