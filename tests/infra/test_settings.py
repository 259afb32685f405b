"""Settings: one typed field per variable of app/config.py, built once, updated explicitly."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from flask import Flask

from app.config import BOOL_SETTINGS, INT_SETTINGS, OPTIONAL_INT_SETTINGS, STRING_SETTINGS
from infra.revaluation import valuation_limits
from infra.settings import Settings, get_settings, update_settings
from models.portfolio_valuation import Limits


def test_every_configured_variable_is_a_typed_field() -> None:
    fields = {field.name.upper(): field.type for field in dataclasses.fields(Settings)}
    expected = {**{name: "int" for name in INT_SETTINGS}, **{name: "int | None" for name in OPTIONAL_INT_SETTINGS},
                **{name: "bool" for name in BOOL_SETTINGS},
                **{name: "str" if default is not None else "str | None" for name, default in STRING_SETTINGS.items()}}
    missing = {name: kind for name, kind in expected.items() if fields.get(name) != kind}
    assert not missing, f"add these fields to infra.settings.Settings: {missing}"


def test_built_once_from_the_app_config(app: Flask) -> None:
    settings = get_settings(app)
    assert settings.realtime_update_interval == app.config["REALTIME_UPDATE_INTERVAL"]
    assert settings.embedded is True and settings.redis_url is None
    assert get_settings(app) is settings
    assert settings.as_config()["REALTIME_BATCH_SIZE"] == app.config["REALTIME_BATCH_SIZE"]


def test_update_settings_replaces_and_mirrors(app: Flask) -> None:
    before = get_settings(app)
    after = update_settings(app, realtime_batch_size=7)
    assert after.realtime_batch_size == 7 and before.realtime_batch_size != 7
    assert get_settings(app) is after and app.config["REALTIME_BATCH_SIZE"] == 7


def test_valuation_limits_come_from_the_settings(app: Flask) -> None:
    assert valuation_limits(app) == Limits()  # the models' defaults are the settings' own
    update_settings(app, portfolio_significant_change_percent=5, data_stale_after_seconds=30)
    assert valuation_limits(app) == Limits(Decimal(5), 30)
