"""Prometheus multiprocess mode: what worker processes record, /metrics merges (live gauges summed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT

RECORD = """
from app import metrics
metrics.connections.set({connections})
metrics.messages_sent.labels("asset_update").inc({sent})
"""
EXPOSE = """
from prometheus_client import generate_latest
from app import metrics
print(generate_latest(metrics.exposed_registry()).decode())
"""


def run(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_exposed_metrics_merge_every_process(tmp_path: Path) -> None:
    run(RECORD.format(connections=2, sent=10), tmp_path)  # two "workers", each with its own pid
    run(RECORD.format(connections=3, sent=5), tmp_path)
    text = run(EXPOSE, tmp_path)
    assert "pricewire_ws_connections 5.0" in text
    assert 'pricewire_ws_messages_sent_total{type="asset_update"} 15.0' in text


def test_without_the_directory_only_this_process_counts() -> None:
    from prometheus_client import generate_latest

    from app import metrics

    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert metrics.exposed_registry() is metrics.registry
    assert b"pricewire_ws_connections" in generate_latest(metrics.exposed_registry())


def test_a_missing_directory_does_not_crash_flask_commands(tmp_path: Path) -> None:
    # Issue 16, item 10: a stale PROMETHEUS_MULTIPROC_DIR made every `flask` command fail at import.
    for directory, created in ((tmp_path / "gone", True), (Path("/proc/pricewire-metrics"), False)):
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PRICEWIRE_INSTANCE_PATH": str(tmp_path)}
        result = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "users", "--help"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert directory.is_dir() is created
        assert created or "metrics are per process" in result.stderr
