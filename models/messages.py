"""Deprecated: the protocol moved to the `protocol` package (sans IO). Import from its modules instead.

This re-export keeps branches written against the old path merging cleanly; nothing in the tree imports
it and it goes away once the open branches have merged (see CHANGELOG.md).
"""

from __future__ import annotations

from protocol.bus import *  # noqa: F403
from protocol.channels import *  # noqa: F403
from protocol.client import *  # noqa: F403
from protocol.codes import *  # noqa: F403
from protocol.feed_control import *  # noqa: F403
from protocol.symbols import *  # noqa: F403
from protocol.symbols import normalize_symbol as normalise_symbol  # noqa: F401  (the old spelling)
from protocol.wire import *  # noqa: F403
