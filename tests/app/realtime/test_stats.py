"""The stats heartbeat's pacing: a few changes go out at once, a storm's thousands are described less often."""

from __future__ import annotations

from app.realtime.cluster import STATS_PERIOD_SECONDS
from app.realtime.stats import MIN_GAP_SECONDS, change_gap


def test_the_gap_after_a_write_grows_with_the_users_changed_up_to_the_period() -> None:
    assert change_gap(0) == change_gap(1) == change_gap(250) == MIN_GAP_SECONDS
    assert MIN_GAP_SECONDS < change_gap(1_000) < change_gap(3_000) < STATS_PERIOD_SECONDS
    assert change_gap(50_000) == STATS_PERIOD_SECONDS  # a full write still comes every period
