"""Where each return period starts, on the days whose calendar makes it tricky (month ends, New Year, leap years)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models.performance import PERIODS, period_start


def day(text: str) -> datetime:
    """A UTC midnight from YYYY-MM-DD."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("today", "expected"), [
    ("2026-12-15", "2026-11-15"),
    ("2026-12-01", "2026-11-01"),  # just after midnight on the 1st: a whole month, not a day
    ("2027-01-01", "2026-12-01"),  # New Year: the previous year's December
    ("2027-01-31", "2026-12-31"),  # December has a 31st: not clamped to the 28th
    ("2027-03-31", "2027-02-28"),  # February is shorter: its last day
    ("2027-03-28", "2027-02-28"),
    ("2028-03-31", "2028-02-29"),  # leap year
    ("2027-05-31", "2027-04-30"),
])
def test_one_month_starts_on_the_same_day_of_the_previous_month_or_its_last_day(today: str, expected: str) -> None:
    assert period_start("1M", day(today), None) == day(expected)


def test_every_period_at_new_year() -> None:
    new_year, first = day("2027-01-01"), datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    starts = {period: period_start(period, new_year, first) for period in PERIODS}
    assert starts == {"1D": new_year, "1W": day("2026-12-25"), "1M": day("2026-12-01"), "YTD": new_year,
                      "1Y": day("2026-01-01"), "ALL": datetime(2025, 6, 1, 9, 29, 59, tzinfo=UTC)}


def test_the_whole_history_starts_today_without_records() -> None:
    assert period_start("ALL", day("2027-03-14"), None) == day("2027-03-14")
