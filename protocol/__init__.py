"""The wire protocol, sans IO: channels, the symbol rule, message types, builders, parsers and close codes.

Like Flask's ``sansio`` package this imports nothing but the standard library: no Flask, no Redis, no
database. The web side (relay, sockets, REST) and the workers (feed, portfolio tracker) both speak it,
so nothing else spells a channel name or a message shape by hand. Modules:

- ``protocol.codes``: close codes, error codes and ``ProtocolError``.
- ``protocol.symbols``: the one symbol rule.
- ``protocol.channels``: channel names and parsing.
- ``protocol.wire``: JSON rules (Decimal, times ending in ``Z``) and the client envelope.
- ``protocol.client``: client message types and ``parse_client_message``.
- ``protocol.bus``: bus message builders and ``parse_bus_message``.
- ``protocol.feed_control``: Celery task names and the web-to-feed interface.
"""
