"""The logging pipeline: readable lines, or one JSON object a line with --log-json."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from simulator.adapters.logs import EventLog, configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    before = structlog.get_config()
    gmqtt_level = logging.getLogger("gmqtt").level
    yield
    structlog.configure(**before)
    logging.getLogger("gmqtt").setLevel(gmqtt_level)


def test_json_logs_are_one_object_a_line_with_level_and_utc_time() -> None:
    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    log: EventLog = get_logger("billsim")
    log.info("mqtt.connected", broker="mqtt://127.0.0.1:1", window=998)
    log.debug("not shown at the default level")
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "mqtt.connected"
    assert (record["level"], record["broker"], record["window"]) == (
        "info",
        "mqtt://127.0.0.1:1",
        998,
    )
    assert record["timestamp"].endswith("Z")


def test_console_logs_are_plain_text_off_a_terminal_and_keep_gmqtt_to_warnings() -> None:
    stream = io.StringIO()
    configure_logging(json=False, stream=stream, level=logging.DEBUG)
    get_logger("billsim").debug("run", scenario="lifecycle-demo")
    text = stream.getvalue()
    assert "run" in text and "scenario=lifecycle-demo" in text
    assert "\x1b[" not in text, "no colours into a file or a pipe"
    assert logging.getLogger("gmqtt").level == logging.WARNING
