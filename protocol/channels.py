"""Bus channel names: one builder and one parser per kind, so nothing splits ``"asset:AAPL"`` by hand."""

from __future__ import annotations

from typing import NamedTuple

ASSET_PREFIX = "asset:"
PORTFOLIO_PREFIX = "portfolio:"
USER_CHANNEL_PREFIX = "user:"
FEED_CHANNEL = "feed"
HEARTBEAT_CHANNEL = "heartbeat"

ASSET = "asset"
PORTFOLIO = "portfolio"
USER = "user"
FEED = "feed"
HEARTBEAT = "heartbeat"


class Channel(NamedTuple):
    """A parsed channel: its kind and key (the symbol, portfolio id or user id; None for feed/heartbeat)."""

    kind: str
    key: str | int | None


def asset_channel(symbol: str) -> str:
    """The channel of one asset's price updates."""
    return f"{ASSET_PREFIX}{symbol}"


def portfolio_channel(portfolio_id: int) -> str:
    """The channel of one portfolio's valuations."""
    return f"{PORTFOLIO_PREFIX}{portfolio_id}"


def user_channel(user_id: int) -> str:
    """The channel of messages for every socket of one user."""
    return f"{USER_CHANNEL_PREFIX}{user_id}"


def is_asset_channel(channel: str) -> bool:
    """True for ``asset:<symbol>``."""
    return channel.startswith(ASSET_PREFIX)


def is_portfolio_channel(channel: str) -> bool:
    """True for ``portfolio:<id>``."""
    return channel.startswith(PORTFOLIO_PREFIX)


def is_user_channel(channel: str) -> bool:
    """True for ``user:<id>``."""
    return channel.startswith(USER_CHANNEL_PREFIX)


def channel_symbol(channel: str) -> str:
    """The symbol of an asset channel, or ValueError."""
    if not is_asset_channel(channel):
        raise ValueError(f"not an asset channel: {channel!r}")
    return channel.removeprefix(ASSET_PREFIX)


def _numeric_key(channel: str, prefix: str) -> int:
    key = channel.removeprefix(prefix)
    if not channel.startswith(prefix) or not key.isdigit():
        raise ValueError(f"not a {prefix[:-1]} channel: {channel!r}")
    return int(key)


def channel_portfolio_id(channel: str) -> int:
    """The portfolio id of a portfolio channel, or ValueError."""
    return _numeric_key(channel, PORTFOLIO_PREFIX)


def channel_user_id(channel: str) -> int:
    """The user id of a user channel, or ValueError."""
    return _numeric_key(channel, USER_CHANNEL_PREFIX)


def parse_channel(channel: str) -> Channel:
    """Kind and key of any channel we publish on, or ValueError."""
    if channel in (FEED_CHANNEL, HEARTBEAT_CHANNEL):
        return Channel(channel, None)
    if is_asset_channel(channel):
        return Channel(ASSET, channel_symbol(channel))
    if is_portfolio_channel(channel):
        return Channel(PORTFOLIO, channel_portfolio_id(channel))
    if is_user_channel(channel):
        return Channel(USER, channel_user_id(channel))
    raise ValueError(f"unknown channel: {channel!r}")
