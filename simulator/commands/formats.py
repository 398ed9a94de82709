"""The forms `billsim report` writes, apart from the report's code: the command line
names them at start-up, and every command's start-up would import the stores' code."""

from __future__ import annotations

from enum import StrEnum


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    HTML = "html"
