"""The conflating outbound queue and the resume buffer."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from app.realtime.buffers import CONFLATED, DROPPED, QUEUED, ConflatingQueue, OutboundEntry, ResumeBuffer


def entry(text: str, key: str | None = None) -> OutboundEntry:
    return OutboundEntry(text, "asset_update", key)


def drain(queue: ConflatingQueue) -> list[str]:
    out = []
    while (item := queue.get()) is not None:
        out.append(item.text)
    return out


def test_fifo_below_capacity() -> None:
    queue = ConflatingQueue(3)
    assert [queue.put(entry(t, "a")) for t in "xyz"] == [QUEUED] * 3
    assert drain(queue) == ["x", "y", "z"]


def test_full_queue_conflates_latest_wins_per_channel() -> None:
    queue = ConflatingQueue(3)
    queue.put(entry("a1", "a"))
    queue.put(entry("b1", "b"))
    queue.put(entry("a2", "a"))
    assert queue.put(entry("a3", "a")) == CONFLATED
    assert queue.put(entry("b2", "b")) == CONFLATED
    assert queue.put(entry("c1", "c")) == DROPPED  # nothing of channel c to replace
    assert queue.put(entry("note")) == DROPPED  # keyless entries are never conflated
    assert drain(queue) == ["a1", "b2", "a3"]


def test_forced_entries_pass_the_bound() -> None:
    queue = ConflatingQueue(1)
    queue.put(entry("a1", "a"))
    assert queue.put(entry("error"), force=True) == QUEUED
    assert len(queue) == 2 and queue.full
    assert drain(queue) == ["a1", "error"]


def test_after_get_a_key_is_queued_fresh() -> None:
    queue = ConflatingQueue(1)
    queue.put(entry("a1", "a"))
    assert queue.get() is not None
    assert queue.put(entry("a2", "a")) == QUEUED
    assert queue.clear() == 1 and queue.get() is None


def test_drop_keyed_keeps_replies_in_order() -> None:
    queue = ConflatingQueue(5)
    for item in (entry("a1", "a"), entry("pong1"), entry("b1", "b"), entry("pong2")):
        queue.put(item)
    assert queue.drop_keyed() == 2
    assert queue.put(entry("a2", "a")) == QUEUED
    assert drain(queue) == ["pong1", "pong2", "a2"]


@given(st.lists(st.sampled_from("abc"), max_size=60), st.integers(1, 6))
def test_conflation_keeps_order_bound_and_newest(puts: list[str], capacity: int) -> None:
    queue = ConflatingQueue(capacity)
    newest: dict[str, int] = {}
    for index, key in enumerate(puts):
        result = queue.put(OutboundEntry(f"{index}", "t", key))
        if result != DROPPED:
            newest[key] = index
        assert len(queue) <= capacity
    texts = [int(t) for t in drain(queue)]
    # Each channel's entries stay in publication order and its newest accepted update is delivered.
    for key, last in newest.items():
        mine = [i for i in texts if puts[i] == key]
        assert mine == sorted(mine) and mine[-1] == last


@dataclass
class Item:
    seq: int | None


def buffer_with(*seqs: int, size: int = 5) -> ResumeBuffer[Item]:
    buffer: ResumeBuffer[Item] = ResumeBuffer(size)
    for seq in seqs:
        buffer.append(Item(seq))
    return buffer


def test_resume_hit_returns_the_missed_updates() -> None:
    buffer = buffer_with(3, 4, 5, 6)
    assert [item.seq for item in buffer.since(4) or []] == [5, 6]
    assert [item.seq for item in buffer.since(2) or []] == [3, 4, 5, 6]
    assert buffer.since(6) == []


def test_resume_miss_when_the_gap_is_older_than_the_buffer() -> None:
    buffer = buffer_with(1, 2, 3, 4, 5, 6, 7, size=3)
    assert buffer.seqs() == [5, 6, 7]
    assert buffer.since(3) is None
    assert buffer.since(4) is not None


def test_resume_miss_on_holes_future_seqs_and_empty_buffers() -> None:
    assert buffer_with(3, 4, 6).since(3) is None  # seq 5 never arrived
    assert buffer_with(3, 4).since(9) is None  # the client is ahead: the store was reset
    assert buffer_with().since(0) is None
    assert buffer_with(1, 2, size=0).since(0) is None


def test_duplicates_ignored_and_backwards_seq_restarts() -> None:
    buffer = buffer_with(4, 5, 5)
    assert buffer.seqs() == [4, 5]
    buffer.append(Item(1))
    assert buffer.seqs() == [1]
    buffer.append(Item(None))
    assert buffer.seqs() == [1]


def test_peek_does_not_take() -> None:
    queue = ConflatingQueue(2)
    assert queue.peek() is None
    queue.put(entry("a1", "a"))
    assert queue.peek() is not None and len(queue) == 1
