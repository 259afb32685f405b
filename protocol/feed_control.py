"""The link from the web side to the price feed: Celery task names and the FeedControl interface.

The web process never imports the task code; it sends tasks by these names and calls the FeedControl
that the composition root (tasks.wiring.attach_feed) registers under FEED_CONTROL_EXTENSION.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

# Celery task names (tasks/feed.py, tasks/maintenance.py register them; the beat schedule names them).
TASK_RUN_CYCLE = "pricewire.feed.run_cycle"
TASK_UPDATE_BATCH = "pricewire.feed.update_batch"
TASK_PRUNE_HISTORY = "pricewire.maintenance.prune_history"

# The key of the app's FeedControl in `app.extensions`.
FEED_CONTROL_EXTENSION = "pricewire.feed_control"


class FeedControl(Protocol):
    """What the web side may ask of the price feed, whichever way the feed runs (Celery or embedded)."""

    def refresh(self, symbols: Sequence[str]) -> dict[str, Any]:
        """Fetch these symbols now (force), and say how the work was dispatched."""

    def request_symbols(self, symbols: Iterable[str]) -> int:
        """Track these symbols for a while even when no portfolio or watchlist holds them."""
