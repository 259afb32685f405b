"""One logger per component, JSON lines on stdout, rotating files per component under LOG_DIR."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from infra.settings import Settings

# Component loggers, as the reference splits them (realtime, websocket, price feed).
COMPONENT_LOGGERS = {
    "pricewire.realtime": "realtime.log",
    "pricewire.websocket": "websocket.log",
    "pricewire.price_feed": "price_feed.log",
}
ROOT_LOGGER = "pricewire"
_configured_marker = "_pricewire_configured"


def _formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter(
            "%(levelname)s %(asctime)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "name": "logger"},
        )
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def log_to_stdout(logger: logging.Logger, settings: Settings) -> None:
    """Send `logger`'s records to stdout in the configured format, at the configured level."""
    logger.setLevel(settings.log_level)
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(_formatter(settings.log_format))
    logger.addHandler(stream)


def configure_logging(settings: Settings) -> None:
    """Set up the pricewire loggers once per process."""
    root = logging.getLogger(ROOT_LOGGER)
    if getattr(root, _configured_marker, False):
        return
    log_to_stdout(root, settings)
    log_dir = settings.log_dir
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        for name, filename in COMPONENT_LOGGERS.items():
            handler = logging.handlers.RotatingFileHandler(
                Path(log_dir) / filename, maxBytes=10 * 1024 * 1024, backupCount=5
            )
            handler.setFormatter(_formatter("json"))
            logging.getLogger(name).addHandler(handler)
    setattr(root, _configured_marker, True)
