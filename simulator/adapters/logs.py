"""structlog set-up: readable lines for people, JSON objects with --log-json."""

from __future__ import annotations

import logging
import sys
from typing import Protocol, TextIO

import structlog
from structlog.typing import FilteringBoundLogger, Processor


def configure_logging(
    *, json: bool, stream: TextIO | None = None, level: int = logging.INFO
) -> None:
    """One pipeline for every billsim logger; gmqtt's own chatter is kept to warnings."""
    out = stream or sys.stderr
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    logging.getLogger("gmqtt").setLevel(logging.WARNING)


class EventLog(Protocol):
    """What billsim needs of a logger: an event and its fields, at four levels (a structlog
    logger is one; a test may pass anything that has these)."""

    def debug(self, event: str, **fields: object) -> object: ...
    def info(self, event: str, **fields: object) -> object: ...
    def warning(self, event: str, **fields: object) -> object: ...
    def error(self, event: str, **fields: object) -> object: ...


def get_logger(name: str) -> EventLog:
    """The named structlog logger, through the pipeline `configure_logging` set up."""
    logger: FilteringBoundLogger = structlog.get_logger(name)
    return logger
