"""Fixtures shared by test modules (defined in helper modules, exposed here)."""

from broker_processes import (
    mosquitto,
    mosquitto_bridge_factory,
    mosquitto_factory,
    nats,
    nats_cluster,
    nats_factory,
)
from bundled_runs import bundled_lines, bundled_out
from stores import postgres_url

__all__ = [
    "bundled_lines",
    "bundled_out",
    "mosquitto",
    "mosquitto_bridge_factory",
    "mosquitto_factory",
    "nats",
    "nats_cluster",
    "nats_factory",
    "postgres_url",
]
