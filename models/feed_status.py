"""Deprecated: the feed status store moved to `infra.feed_status` (one class per backend). Import from there.

This re-export keeps open branches merging cleanly; nothing in the tree imports it (CHANGELOG.md).
"""

from __future__ import annotations

from infra.feed_status import *  # noqa: F403
from infra.feed_status import __all__  # noqa: F401
