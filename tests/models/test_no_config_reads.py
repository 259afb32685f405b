"""models/ reads no configuration: callers pass settings in (issue 17); only the MARKET_CLOCK hook is left."""

from __future__ import annotations

from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"
ALLOWED = {"clock.py"}  # MARKET_CLOCK, a test clock hook read deep (see models/clock.py)


def test_no_model_module_reads_the_app_config() -> None:
    readers = sorted(str(path.relative_to(MODELS)) for path in MODELS.rglob("*.py")
                     if "current_app.config" in path.read_text(encoding="utf-8"))
    assert readers == sorted(ALLOWED)
