"""Rate limiter, min_change_percent and max_hz conflation per subscription."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from app.realtime.limits import (
    HOLD,
    PENDING,
    REPLACED,
    SEND,
    SKIP,
    SlidingWindowLimiter,
    Subscription,
    changed_enough,
    to_decimal,
)


def test_limiter_allows_limit_per_window_then_says_when() -> None:
    limiter = SlidingWindowLimiter(3, window=60)
    assert [limiter.hit(t) for t in (0.0, 1.0, 2.0)] == [None, None, None]
    assert limiter.hit(10.0) == 50
    assert limiter.hit(59.5) == 1
    assert limiter.hit(60.0) is None  # the first message left the window
    assert limiter.hit(60.5) == 1


@pytest.mark.parametrize(("previous", "current", "percent", "expected"), [
    ("100", "101", "1", True),
    ("100", "100.99", "1", False),
    ("100", "99", "1", True),
    ("100", "100.5", None, True),
    (None, "5", "1", True),
    ("0", "0", "1", False),
    ("0", "1", "1", True),
])
def test_changed_enough(previous: str | None, current: str, percent: str | None, expected: bool) -> None:
    def as_decimal(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    assert changed_enough(as_decimal(previous), Decimal(current), as_decimal(percent)) is expected


def test_to_decimal() -> None:
    assert to_decimal(150.25) == Decimal("150.25")
    assert to_decimal("1e3") == Decimal(1000)
    assert to_decimal(True) is None and to_decimal("x") is None and to_decimal("NaN") is None


@dataclass
class Update:
    seq: int | None
    price: Decimal | None = None


def live(**options: object) -> Subscription:
    subscription = Subscription("asset:AAPL", "asset", "AAPL", **options)  # type: ignore[arg-type]
    subscription.start([], 0.0)
    return subscription


def test_pending_updates_wait_for_the_snapshot_and_older_ones_are_dropped() -> None:
    subscription = Subscription("asset:AAPL", "asset", "AAPL")
    assert subscription.offer(Update(6), 0.0) == PENDING
    assert subscription.offer(Update(8), 0.0) == PENDING
    sent = subscription.start([Update(7)], 0.1)  # the snapshot read saw seq 7
    assert [u.seq for u in sent] == [7, 8]
    assert subscription.offer(Update(8), 0.2) == SKIP and subscription.offer(Update(9), 0.2) == SEND


def test_min_change_percent_compares_with_last_forwarded_price() -> None:
    subscription = live(min_change_percent=Decimal(1))
    assert subscription.offer(Update(1, Decimal(100)), 0) == SEND
    assert subscription.offer(Update(2, Decimal("100.5")), 0) == SKIP
    assert subscription.offer(Update(3, Decimal("100.9")), 0) == SKIP
    assert subscription.offer(Update(4, Decimal("101")), 0) == SEND
    assert subscription.last_price == Decimal(101)


def test_max_hz_holds_latest_and_releases_on_the_slot() -> None:
    subscription = live(max_hz=2.0)  # one update per 0.5 s
    assert subscription.offer(Update(1), 10.0) == SEND
    assert subscription.offer(Update(2), 10.1) == HOLD
    assert subscription.offer(Update(3), 10.2) == REPLACED
    assert subscription.release(10.3) is None  # not yet
    released = subscription.release(10.5)
    assert released is not None and released.seq == 3
    assert subscription.next_allowed == pytest.approx(11.0)
    assert subscription.release(11.0) is None


def test_held_update_is_dropped_if_price_went_back() -> None:
    subscription = live(max_hz=1.0, min_change_percent=Decimal(1))
    assert subscription.offer(Update(1, Decimal(100)), 0.0) == SEND
    assert subscription.offer(Update(2, Decimal(105)), 0.1) == HOLD
    assert subscription.offer(Update(3, Decimal("100.2")), 0.2) == REPLACED
    assert subscription.release(1.0) is None
    assert subscription.offer(Update(4, Decimal(102)), 1.1) == SEND


def test_seqless_updates_are_never_deduplicated() -> None:
    subscription = live()
    assert subscription.offer(Update(None), 0) == SEND
    assert subscription.offer(Update(None), 0) == SEND
