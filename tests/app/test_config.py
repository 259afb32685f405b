"""Config: the reference's names and defaults, and start-up errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_config, normalize_database_url, parse_priorities


def config(tmp_path: Path, **env: str) -> dict:
    return load_config({"SECRET_KEY": "x", **env}, instance_path=tmp_path)


def test_reference_defaults(tmp_path: Path) -> None:
    loaded = config(tmp_path)
    assert loaded["REALTIME_UPDATE_INTERVAL"] == 30
    assert loaded["REALTIME_BATCH_SIZE"] == 50
    assert loaded["REALTIME_CACHE_TIMEOUT"] == 300
    assert loaded["REALTIME_MAX_WORKERS"] == 2
    assert loaded["WEBSOCKET_TIMEOUT"] == 300
    assert loaded["WEBSOCKET_MAX_CONNECTIONS_PER_USER"] == 5
    assert loaded["WEBSOCKET_MAX_SUBSCRIPTIONS_PER_CONNECTION"] == 50
    assert loaded["WEBSOCKET_MESSAGE_SIZE_LIMIT"] == 1024
    assert loaded["WEBSOCKET_RATE_LIMIT_MESSAGES_PER_MINUTE"] == 60
    assert loaded["MARKET_DATA_SOURCE_PRIORITIES"] == {"simulated": 1}
    assert loaded["PORT"] == 8000
    assert loaded["REDIS_URL"] is None and loaded["EMBEDDED"] is True
    assert loaded["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'pricewire.db'}"
    # None = the provider's own host and rate limit (the adapters' class defaults).
    for provider in ("YAHOO_FINANCE", "ALPHA_VANTAGE", "FINNHUB"):
        assert loaded[f"{provider}_BASE_URL"] is None
    for provider in ("YAHOO_FINANCE", "ALPHA_VANTAGE", "FINNHUB", "SIMULATED"):
        assert loaded[f"{provider}_RATE_LIMIT"] is None


def test_optional_rate_limit_is_a_whole_number_when_set(tmp_path: Path) -> None:
    assert config(tmp_path, FINNHUB_RATE_LIMIT="0")["FINNHUB_RATE_LIMIT"] == 0
    assert config(tmp_path, FINNHUB_RATE_LIMIT=" 30 ")["FINNHUB_RATE_LIMIT"] == 30
    assert config(tmp_path, FINNHUB_RATE_LIMIT=" ")["FINNHUB_RATE_LIMIT"] is None
    for bad in ("-1", "fast", "1.5"):
        with pytest.raises(ConfigError, match="FINNHUB_RATE_LIMIT"):
            config(tmp_path, FINNHUB_RATE_LIMIT=bad)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", ""])
def test_bad_number_names_the_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config(tmp_path, REALTIME_BATCH_SIZE=value)
    assert "REALTIME_BATCH_SIZE" in str(raised.value.code)


def test_bad_boolean_and_priorities(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WEBSOCKET_COMPRESSION"):
        config(tmp_path, WEBSOCKET_COMPRESSION="maybe")
    with pytest.raises(ConfigError, match="unknown source 'iex_cloud'"):
        config(tmp_path, MARKET_DATA_SOURCE_PRIORITIES="yahoo_finance:1,iex_cloud:2")


def test_priorities_parse() -> None:
    assert parse_priorities("yahoo_finance:1, alpha_vantage:2,finnhub:3") == {
        "yahoo_finance": 1, "alpha_vantage": 2, "finnhub": 3,
    }
    assert parse_priorities("finnhub,yahoo_finance") == {"finnhub": 1, "yahoo_finance": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bloomberg:1", "unknown source 'bloomberg'"),
        ("yahoo_finance:first", "whole number"),
        ("yahoo_finance:0", "whole number"),
        ("yahoo_finance:1,yahoo_finance:2", "listed twice"),
        (":1", "unknown source ''"),
        (" , ", "name at least one source"),
    ],
)
def test_priorities_reject_bad_input(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="MARKET_DATA_SOURCE_PRIORITIES") as caught:
        parse_priorities(text)
    assert message in str(caught.value.code)


@pytest.mark.parametrize("given", ["postgres://u:p@h:5432/d", "postgresql://u:p@h:5432/d"])
def test_host_database_urls_work_as_given(given: str) -> None:
    assert normalize_database_url(given) == "postgresql+psycopg://u:p@h:5432/d"


def test_secret_key_is_kept_across_restarts(tmp_path: Path) -> None:
    first = load_config({}, instance_path=tmp_path)["SECRET_KEY"]
    assert first == load_config({}, instance_path=tmp_path)["SECRET_KEY"]


def test_start_up_error_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        env={"REALTIME_BATCH_SIZE": "abc", "PRICEWIRE_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin"},
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 1
    assert "REALTIME_BATCH_SIZE='abc' is invalid" in result.stderr
    assert "Traceback" not in result.stderr


def test_readme_documents_every_setting() -> None:
    from app.config import BOOL_SETTINGS, INT_SETTINGS, OPTIONAL_INT_SETTINGS, STRING_SETTINGS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    names = [*INT_SETTINGS, *OPTIONAL_INT_SETTINGS, *STRING_SETTINGS, *BOOL_SETTINGS, "DATABASE_URL", "REDIS_URL",
             "SECRET_KEY", "MARKET_DATA_SOURCE_PRIORITIES", "WEBSOCKET_ALLOWED_ORIGINS"]
    assert [name for name in names if f"`{name}`" not in readme] == []


def test_redis_sentinel_and_cluster_settings() -> None:
    from app.config import ConfigError, load_config

    base = {"SECRET_KEY": "x"}
    built = load_config({**base, "REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379", "REDIS_SENTINEL_MASTER": "pw"})
    assert built["REDIS_URL"] == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/pw/0"
    given = load_config({**base, "REDIS_URL": "redis+sentinel://:secret@h1,h2:26380/pw/2"})
    assert given["REDIS_URL"] == "redis+sentinel://:secret@h1,h2:26380/pw/2" and not given["EMBEDDED"]
    cluster = load_config({**base, "REDIS_URL": "redis://r:6379/0", "REDIS_CLUSTER_URL": "redis://c1:7000"})
    assert cluster["REDIS_CLUSTER_URL"] == "redis://c1:7000"
    bad = [
        ({"REDIS_URL": "redis+sentinel://h1:26379/"}, "REDIS_URL"),
        ({"REDIS_URL": "redis+sentinel:///pw"}, "REDIS_URL"),
        ({"REDIS_SENTINELS": "h1:26379"}, "REDIS_SENTINEL_MASTER"),
        ({"REDIS_SENTINELS": "h1:26379", "REDIS_SENTINEL_MASTER": "pw", "REDIS_URL": "redis://r"}, "REDIS_SENTINELS"),
        ({"REDIS_CLUSTER_URL": "redis://c1:7000"}, "REDIS_CLUSTER_URL"),
        ({"REDIS_URL": "redis://r", "REDIS_CLUSTER_URL": "c1:7000"}, "REDIS_CLUSTER_URL"),
    ]
    for environ, name in bad:
        with pytest.raises(ConfigError) as raised:
            load_config({**base, **environ})
        assert raised.value.name == name, environ
    with pytest.raises(ConfigError) as raised:
        load_config({**base, "REDIS_URL": "redis+sentinel://:hunter2@h1:26379/"})
    assert "hunter2" not in str(raised.value) and ":***@h1:26379" in str(raised.value)


def test_celery_broker_speaks_sentinel() -> None:
    from infra.redis_connect import celery_broker

    url, options = celery_broker("redis+sentinel://:pw@h1:26379,h2:26380/pwmaster/3")
    assert url == "sentinel://:pw@h1:26379/3;sentinel://:pw@h2:26380/3"
    assert options["master_name"] == "pwmaster"
    assert celery_broker("redis://r:6379/0") == ("redis://r:6379/0", {})
