"""`flask prices update`, `flask feed status` and `flask feed start`: output, effects and exit codes."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from cli import register_cli
from cli.demo import DEMO_SYMBOLS, seed_demo
from infra.bus import get_bus
from infra.feed_status import get_feed_status
from infra.settings import update_settings
from models import Asset, db
from protocol.channels import asset_channel
from tasks.market_hours import plan_fetches, record_fetches
from tasks.pipeline import MANAGER_KEY
from tests.app.api_helpers import redis_backed_app
from tests.conftest import make_app
from tests.support.processes import BIN, ManagedProcess, service_env
from tests.support.services import wait_for
from tests.support.sessions import at, track
from tests.tasks.feed_support import drain, history_counts, stored_quotes


@pytest.fixture
def cli_app(app: Flask) -> Flask:
    """The embedded SQLite app with the CLI registered."""
    register_cli(app)
    return app


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def test_update_named_symbols_prints_each_batch_and_a_summary(cli_app: Flask) -> None:
    update_settings(cli_app, realtime_batch_size=2)

    result = run(cli_app, "prices", "update", "--symbols", "AAPL", "msft", "GOOGL")

    assert result.exit_code == 0, result.output
    assert "Batch 1: 2/2 successful" in result.output and "Batch 2: 1/1 successful" in result.output
    assert "Updated 3/3 symbols" in result.output
    assert sorted(stored_quotes()) == ["AAPL", "GOOGL", "MSFT"]


@pytest.mark.parametrize("args", [("--symbols", "AAPL,MSFT"), ("--symbols", "AAPL", "--symbols", "MSFT"),
                                  ("--symbols", "AAPL", "MSFT", "--verbose")])
def test_symbols_may_be_listed_or_comma_separated(cli_app: Flask, args: tuple[str, ...]) -> None:
    result = run(cli_app, "prices", "update", *args)

    assert result.exit_code == 0, result.output
    assert "Batch 1: 2/2 successful" in result.output and sorted(stored_quotes()) == ["AAPL", "MSFT"]
    if "--verbose" in args:
        assert "AAPL" in result.output.split("Batch 1")[1] and "[simulated, changed]" in result.output


def test_without_symbols_the_tracked_ones_are_updated(cli_app: Flask) -> None:
    assert "No tracked symbols" in run(cli_app, "prices", "update").output
    seed_demo()

    result = run(cli_app, "prices", "update")

    assert result.exit_code == 0 and f"Batch 1: {len(DEMO_SYMBOLS)}/{len(DEMO_SYMBOLS)} successful" in result.output
    assert sorted(stored_quotes()) == DEMO_SYMBOLS


def test_dry_run_changes_nothing(cli_app: Flask) -> None:
    listener = get_bus().listener()
    listener.subscribe(asset_channel("AAPL"))

    result = run(cli_app, "prices", "update", "--symbols", "AAPL", "NEWCO", "--dry-run", "--broadcast", "--verbose",
                 "--historical", "--days", "3")

    assert result.exit_code == 0, result.output
    assert "Batch 1: 2/2 successful" in result.output and "nothing stored or published" in result.output
    assert "[simulated, dry run]" in result.output and "would store" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Asset)) == 0
    assert stored_quotes() == {} and history_counts() == {} and drain(listener) == []


def test_broadcast_is_refused_in_embedded_mode_before_anything_is_stored(cli_app: Flask) -> None:
    listener = get_bus().listener()
    listener.subscribe(asset_channel("AAPL"))

    result = run(cli_app, "prices", "update", "--symbols", "AAPL", "--broadcast")

    assert result.exit_code == 2
    assert "--broadcast cannot reach browsers in embedded mode" in result.output
    assert "POST /api/prices/refresh" in result.output
    assert stored_quotes() == {} and drain(listener) == []


def test_broadcast_publishes_in_redis_mode_and_no_broadcast_does_not(redis_server_url: str,
                                                                     redis_prefix: str) -> None:
    with redis_backed_app("sqlite://", redis_server_url, redis_prefix) as app:
        register_cli(app)
        listener = get_bus(app).listener()
        listener.subscribe(asset_channel("AAPL"))
        run(app, "prices", "update", "--symbols", "AAPL")
        update_settings(app, simulated_seed=7)  # another price path, so the quote changes
        app.extensions.pop(MANAGER_KEY, None)

        result = run(app, "prices", "update", "--symbols", "AAPL", "--broadcast")

        assert "1 changed, stored and published" in result.output, result.output
        first = wait_for(lambda: listener.get(timeout=0.2), timeout=10, message="the broadcast asset_update")
        assert json.loads(first.data)["data"]["seq"] == 2  # the first run (seq 1) published nothing
        listener.close()


def test_historical_stores_daily_closes_once(cli_app: Flask) -> None:
    first = run(cli_app, "prices", "update", "--symbols", "AAPL", "--historical", "--days", "3")
    again = run(cli_app, "prices", "update", "--symbols", "AAPL", "--historical", "--days", "3")

    assert "stored 3 new" in first.output and "stored 0 new" in again.output
    assert history_counts()["AAPL"] >= 4  # three closes and the quote(s)


def test_days_beyond_what_the_api_serves_is_refused_before_anything_is_stored(cli_app: Flask) -> None:
    result = run(cli_app, "prices", "update", "--symbols", "AAPL", "--historical", "--days", "100000")

    assert result.exit_code == 2
    assert "100000 is not in the range 1<=x<=365" in result.output
    assert stored_quotes() == {} and history_counts() == {}


def test_days_beyond_retention_is_refused(cli_app: Flask) -> None:
    update_settings(cli_app, history_retention_days=30)
    result = run(cli_app, "prices", "update", "--symbols", "AAPL", "--historical", "--days", "60")

    assert result.exit_code == 2 and "more than HISTORY_RETENTION_DAYS (30)" in result.output
    assert history_counts() == {}


def test_a_year_of_history_is_stored_in_chunks(cli_app: Flask) -> None:
    result = run(cli_app, "prices", "update", "--symbols", "AAPL", "--historical", "--days", "365")

    assert result.exit_code == 0, result.output
    assert history_counts()["AAPL"] > 200  # more rows than one insert statement carries


def test_exit_code_1_when_every_symbol_failed() -> None:
    app = make_app({"DATABASE_URL": "sqlite://", "SIMULATED_FAIL_SYMBOLS": "AAPL,MSFT"})
    register_cli(app)
    with app.app_context():
        db.create_all()
        failed = run(app, "prices", "update", "--symbols", "AAPL", "MSFT")
        partial = run(app, "prices", "update", "--symbols", "AAPL", "GOOGL")

    assert failed.exit_code == 1 and "Batch 1: 0/2 successful" in failed.output
    assert "Failed: AAPL (simulated: simulated failure)" in failed.output
    assert partial.exit_code == 0


@pytest.mark.parametrize("args", [("--symbols", "AA$PL"), ("--symbols", "AAPL", "--days", "0"),
                                  ("--symbols", "AAPL", "--days", "x"), ("--symbols", "A" * 25), ("--nope",)])
def test_exit_code_2_on_bad_arguments(cli_app: Flask, args: tuple[str, ...]) -> None:
    result = run(cli_app, "prices", "update", *args)

    assert result.exit_code == 2, result.output
    assert stored_quotes() == {}


def test_feed_status_as_table_and_json(cli_app: Flask) -> None:
    run(cli_app, "prices", "update", "--symbols", "AAPL", "GOOGL")

    table = run(cli_app, "feed", "status")
    as_json = run(cli_app, "feed", "status", "--json")

    assert table.exit_code == 0 and "running" in table.output and "failed_symbols" in table.output
    status = json.loads(as_json.output)
    assert status["running"] is False and status["update_interval"] == 30
    assert status["successes_by_source"] == {"simulated": 2}


@pytest.fixture
def committed_env(pg_committed_url: str, redis_server_url: str, redis_prefix: str,
                  tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a `flask` process on the committed PostgreSQL and the real Redis; keys removed after."""
    yield service_env(pg_committed_url, redis_server_url, redis_prefix, PRICEWIRE_INSTANCE_PATH=str(tmp_path))
    client = redis.Redis.from_url(redis_server_url)
    keys = list(client.scan_iter(match=f"{redis_prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def flask_command(env: dict[str, str], log: Path, *args: str) -> ManagedProcess:
    return ManagedProcess([str(BIN / "flask"), "--app", "wsgi", *args], env, log).start()


def seeded_quotes(env: dict[str, str]) -> dict[str, int]:
    app = make_app(env)
    with app.app_context():
        if not db.session.scalar(sa.select(sa.func.count()).select_from(Asset)):
            seed_demo()
        found = {symbol: quote.seq for symbol, quote in stored_quotes().items()}
        db.session.remove()
        db.engine.dispose()
        return found


@pytest.mark.integration
def test_feed_start_runs_beat_and_workers_until_stopped(committed_env: dict[str, str], tmp_path: Path) -> None:
    seeded_quotes(committed_env)
    feed = flask_command(committed_env, tmp_path / "feed-start.log", "feed", "start", "--interval", "1",
                         "--max-workers", "2")
    try:
        wait_for(lambda: set(seeded_quotes(committed_env)) == set(DEMO_SYMBOLS), timeout=60,
                 message="the feed to store quotes")
        app = make_app(committed_env)
        wait_for(lambda: app.extensions["pricewire.feed_status"].service_status(1)["running"], timeout=30,
                 message="the beat heartbeat")
        feed.signal(signal.SIGTERM)
        assert feed.process is not None and feed.process.wait(timeout=30) == 0
        assert "Celery beat + prefork workers, every 1s" in feed.log()
    finally:
        feed.stop()


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_feed_start_embedded_runs_the_loop(tmp_path: Path, stop_signal: signal.Signals) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'feed.db'}", None, "pwembedded", PRICEWIRE_INSTANCE_PATH=str(tmp_path))
    migrate = ManagedProcess([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env, tmp_path / "migrate.log")
    assert migrate.start().process is not None and migrate.process.wait(timeout=60) == 0
    feed = flask_command(env, tmp_path / "feed-embedded.log", "feed", "start", "--interval", "1")
    try:
        wait_for(lambda: set(seeded_quotes(env)) == set(DEMO_SYMBOLS) and min(seeded_quotes(env).values()) >= 2,
                 timeout=60, message="two embedded cycles")
        feed.signal(stop_signal)  # Ctrl-C or a service manager's stop: the loop ends after its cycle
        assert feed.process is not None and feed.process.wait(timeout=30) == 0
        assert "embedded (in-process, no broker)" in feed.log() and "Price feed stopped." in feed.log()
    finally:
        feed.stop()


def test_feed_start_exits_1_when_redis_is_unreachable(tmp_path: Path) -> None:
    app = make_app({"DATABASE_URL": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1/0"})
    register_cli(app)

    result = run(app, "feed", "start")

    assert result.exit_code == 1 and "Cannot reach Redis" in result.output


def test_feed_status_shows_each_exchange_open_or_closed_and_its_next_open(cli_app: Flask) -> None:
    cli_app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")  # Saturday
    for symbol in ("AAPL", "MSFT", "VOD.L", "BTC-USD"):
        track(symbol)

    table = run(cli_app, "feed", "status")
    as_json = json.loads(run(cli_app, "feed", "status", "--json").output)

    assert table.exit_code == 0, table.output
    assert "  XNYS     closed, next open Mon 2026-11-30 09:30 America/New_York: AAPL, MSFT" in table.output
    assert "  XLON     closed, next open Mon 2026-11-30 08:00 Europe/London: VOD.L" in table.output
    assert "  CRYPTO   open: BTC-USD" in table.output
    assert as_json["exchanges"]["XNYS"]["next_open"] == "2026-11-30T14:30:00+00:00"
    assert as_json["exchanges"]["XNYS"]["open"] is False and as_json["exchanges"]["CRYPTO"]["open"] is True


def test_prices_update_fetches_a_closed_market_anyway(cli_app: Flask) -> None:
    cli_app.config["MARKET_CLOCK"] = at("2026-11-28 15:00")
    update_settings(cli_app, realtime_fetch_when_closed=False)
    track("AAPL")
    store = get_feed_status(cli_app)
    record_fetches(store, ["AAPL"])  # the closing print is in: a scheduled cycle would skip AAPL
    assert plan_fetches(store, ["AAPL"]).skipped == ["AAPL"]

    result = run(cli_app, "prices", "update", "--symbols", "AAPL")

    assert result.exit_code == 0, result.output
    assert "Batch 1: 1/1 successful" in result.output and "AAPL" in stored_quotes()
