"""Channel names: built and parsed in one place."""

from __future__ import annotations

import pytest

from protocol.channels import (
    ASSET,
    FEED_CHANNEL,
    HEARTBEAT_CHANNEL,
    PORTFOLIO,
    USER,
    Channel,
    asset_channel,
    channel_portfolio_id,
    channel_symbol,
    channel_user_id,
    parse_channel,
    portfolio_channel,
    user_channel,
)


def test_builders_and_parser_agree() -> None:
    assert parse_channel(asset_channel("^GSPC")) == Channel(ASSET, "^GSPC")
    assert parse_channel(portfolio_channel(7)) == Channel(PORTFOLIO, 7)
    assert parse_channel(user_channel(3)) == Channel(USER, 3)
    assert parse_channel(FEED_CHANNEL).key is None and parse_channel(HEARTBEAT_CHANNEL).kind == HEARTBEAT_CHANNEL
    assert channel_symbol(asset_channel("EURUSD=X")) == "EURUSD=X"
    assert channel_portfolio_id("portfolio:12") == 12 and channel_user_id("user:5") == 5


@pytest.mark.parametrize("channel", ["", "assets:AAPL", "portfolio:x", "user:", "portfolio:-1", "feeds"])
def test_unknown_or_malformed_channels_raise(channel: str) -> None:
    with pytest.raises(ValueError, match="channel"):
        parse_channel(channel)


def test_subscription_replies_name_the_target() -> None:
    from protocol.client import subscribed_data, unsubscribed_data

    assert subscribed_data(asset_channel("^GSPC"), False) == {"channel": "asset:^GSPC", "symbol": "^GSPC",
                                                              "resumed": False}
    assert subscribed_data(portfolio_channel(7), True) == {"channel": "portfolio:7", "portfolio_id": 7,
                                                           "resumed": True}
    assert unsubscribed_data(portfolio_channel(7)) == {"channel": "portfolio:7", "portfolio_id": 7}
