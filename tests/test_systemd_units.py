"""deploy/systemd: every unit passes `systemd-analyze verify` (with its paths pointed at this checkout)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ROOT
from tests.support.services import unavailable

UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("web", "worker", "beat", "flower")


def installed_copy(target: Path) -> Path:
    """The units as an operator installs them, with /srv/pricewire and the env file replaced by this checkout's."""
    shutil.copytree(UNITS, target)
    env_file = ROOT / "deploy" / "pricewire.env.example"
    for path in [*target.glob("*.service"), *target.glob("*.target"), *target.glob("*.d/*.conf")]:
        text = path.read_text().replace("/srv/pricewire", str(ROOT))
        path.write_text(text.replace("/etc/pricewire/pricewire.env", str(env_file)))
    return target


def verify(units: Path, *names: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of some of the copied units (skipped with a reason, or failing under CI, without it)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd", "no systemd-analyze on this machine")
    assert analyze is not None
    env = {"SYSTEMD_UNIT_PATH": f"{units}:", "PATH": "/usr/bin:/bin"}  # our directory first, then the defaults
    return subprocess.run([analyze, "verify", *(str(units / name) for name in names)], capture_output=True,
                          text=True, check=False, timeout=60, env=env)


def test_units_verify(tmp_path: Path) -> None:
    units = installed_copy(tmp_path / "units")
    result = verify(units, "pricewire.target", *(f"pricewire-{name}.service" for name in SERVICES))
    ours = [line for line in (result.stdout + result.stderr).splitlines() if str(units) in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


def test_units_are_hardened_and_restart() -> None:
    common = (UNITS / "pricewire-.service.d" / "common.conf").read_text()
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=pricewire", "Restart=always",
                    "EnvironmentFile=/etc/pricewire/pricewire.env"):
        assert setting in common
    target = (UNITS / "pricewire.target").read_text()
    for name in SERVICES:
        unit = (UNITS / f"pricewire-{name}.service").read_text()
        assert "PartOf=pricewire.target" in unit and f"pricewire-{name}.service" in target
    assert "FLOWER_BASIC_AUTH" in (UNITS / "pricewire-flower.service").read_text()


@pytest.mark.parametrize("broken", ["ExecStart=/nonexistent/gunicorn wsgi:app", "Restart=sometimes"])
def test_verify_catches_a_broken_unit(tmp_path: Path, broken: str) -> None:
    """The check above would notice a bad unit (so its silence means something)."""
    units = installed_copy(tmp_path / "units")
    web = units / "pricewire-web.service"
    web.write_text(web.read_text().replace("TimeoutStopSec=30", f"TimeoutStopSec=30\n{broken}"))
    result = verify(units, web.name)
    assert result.returncode != 0 or str(units) in result.stderr
