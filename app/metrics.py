"""Prometheus metrics of this process (the relay and the API update them; /metrics serves them)."""

from __future__ import annotations

import os
import sys

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector

# Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before the workers start: every worker
# writes its values there and /metrics merges them (gauges: the mode below says how).
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _usable_multiprocess_dir() -> None:
    """Create a set but missing directory; if that fails, per-process metrics with a warning.

    A stale export or a cleaned /tmp used to crash every `flask` command at import.
    """
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if not directory or os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        os.environ.pop(MULTIPROCESS_DIR_VARIABLE)
        print(f"warning: {MULTIPROCESS_DIR_VARIABLE}={directory!r} is unusable ({exc.strerror}); "
              "metrics are per process", file=sys.stderr)
        # prometheus_client chose its value class from the environment when first imported: choose again.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


_usable_multiprocess_dir()

registry = CollectorRegistry(auto_describe=True)


def exposed_registry() -> CollectorRegistry:
    """What /metrics shows: all workers merged in multiprocess mode, else this process's registry."""
    if not os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        return registry
    merged = CollectorRegistry()
    MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
    return merged


connections = Gauge("pricewire_ws_connections", "Open WebSocket connections (live worker processes summed)",
                    registry=registry, multiprocess_mode="livesum")
subscriptions = Gauge(
    "pricewire_ws_subscriptions", "Channel subscriptions held by sockets (live worker processes summed)", ["kind"],
    registry=registry, multiprocess_mode="livesum",
)
messages_sent = Counter("pricewire_ws_messages_sent_total", "Messages written to sockets", ["type"], registry=registry)
messages_dropped = Counter(
    "pricewire_ws_messages_dropped_total", "Updates conflated or dropped for slow clients", ["reason"],
    registry=registry,
)
relay_lag = Gauge("pricewire_relay_lag_seconds", "Age of the last relayed message when it arrived (worst process)",
                  registry=registry, multiprocess_mode="livemax")
publish_to_send = Histogram(
    "pricewire_publish_to_send_seconds", "Time from a worker's publish to the socket write",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=registry,
)
client_errors = Counter("pricewire_ws_client_errors_total", "Error replies by code", ["code"], registry=registry)
feed_cycle_duration = Gauge(
    "pricewire_feed_cycle_duration_seconds", "Duration of the last price-feed cycle", registry=registry,
    multiprocess_mode="livemostrecent",
)
provider_errors = Gauge(
    "pricewire_provider_errors", "Failures recorded per market-data source", ["source"], registry=registry,
    multiprocess_mode="livemax",
)
