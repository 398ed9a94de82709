"""Errors that reach the user: each names where the bad input is and maps to an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class BillsimError(Exception):
    """Base of every error billsim reports to a user instead of a traceback."""

    exit_code = EXIT_FAILED


class InputError(BillsimError):
    """Bad input (a scenario, a notes.ini, a frame stream, an option): exit code 2.

    Rendered as ``file:line: field: message``, leaving out the parts that are unknown,
    so an editor can jump to the place.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"
