"""Revaluation rounds: symbols of batches that finish during a round are revalued together in the next one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from tasks.revaluer import Revaluer


@pytest.fixture(params=["redis", "memory"])
def revaluer(request: pytest.FixtureRequest, redis_prefix: str) -> Iterator[Revaluer]:
    if request.param == "memory":
        yield Revaluer(None)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_server_url"))
    yield Revaluer(client, redis_prefix)
    client.delete(f"{redis_prefix}:revalue:pending", f"{redis_prefix}:revalue:lock")


def test_batches_finishing_during_a_round_share_the_next_one(revaluer: Revaluer) -> None:
    rounds: list[set[str]] = []
    release = threading.Event()
    first_round_started = threading.Event()

    def revalue(symbols: set[str]) -> None:
        rounds.append(symbols)
        if len(rounds) == 1:
            first_round_started.set()
            assert release.wait(10)

    holder = threading.Thread(target=revaluer.run, args=(["AAPL"], revalue))
    holder.start()
    assert first_round_started.wait(10)
    # Three batches finish while the first round runs: they leave their symbols and return at once.
    assert [revaluer.run(batch, revalue) for batch in (["MSFT"], ["AAPL", "NVDA"], ["EURUSD=X"])] == [0, 0, 0]
    release.set()
    holder.join(10)

    assert rounds == [{"AAPL"}, {"MSFT", "AAPL", "NVDA", "EURUSD=X"}]
    assert not revaluer.has_pending()


def test_a_failed_round_does_not_strand_later_symbols(revaluer: Revaluer) -> None:
    seen: list[set[str]] = []

    def revalue(symbols: set[str]) -> None:
        seen.append(symbols)
        if len(seen) == 1:
            revaluer.add(["LATER"])  # arrives during the failing round
            raise RuntimeError("database gone")

    assert revaluer.run(["AAPL"], revalue) == 2
    assert seen == [{"AAPL"}, {"LATER"}]
    assert revaluer.run(["MSFT"], revalue) == 1  # the lock was released
