"""Deprecated: the bus moved to `infra.bus` (one module per backend). Import from there.

This re-export keeps open branches merging cleanly; nothing in the tree imports it (CHANGELOG.md).
"""

from __future__ import annotations

from infra.bus import *  # noqa: F403
from infra.bus import __all__  # noqa: F401
