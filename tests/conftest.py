"""Fixtures shared by test modules (defined in helper modules, exposed here), and the
`--rabbitmq` option: tests marked `rabbitmq` start a RabbitMQ node (about 20 s), so they
are left out (deselected, not skipped) unless it is given."""

import os
import sys
from pathlib import Path

# PYTHONDONTWRITEBYTECODE (set on some machines) has every test process rewrite the asserts
# of all 150 test modules from source (about 6 of the 10 s each xdist worker spends
# collecting) and every `billsim` child compile billsim's modules again. Bytecode goes to
# .pytest_cache/pycache instead, for this run and its children: nothing is written next to
# the sources, as the setting wants. (Set here, before xdist starts its workers.)
if sys.dont_write_bytecode and os.environ.get("PYTHONDONTWRITEBYTECODE"):
    _PYCACHE = str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "pycache")
    sys.pycache_prefix, sys.dont_write_bytecode = _PYCACHE, False
    os.environ["PYTHONPYCACHEPREFIX"] = _PYCACHE
    del os.environ["PYTHONDONTWRITEBYTECODE"]

import pytest
from broker_processes import (
    mosquitto,
    mosquitto_bridge_factory,
    mosquitto_factory,
    nats,
    nats_cluster,
    nats_factory,
    rabbitmq,
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
    "rabbitmq",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--rabbitmq",
        action="store_true",
        help="also run the tests marked rabbitmq (a RabbitMQ node of their own each; "
        "rabbitmq-server must be installed)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--rabbitmq"):
        return
    left_out = [item for item in items if item.get_closest_marker("rabbitmq") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item.get_closest_marker("rabbitmq") is None]
