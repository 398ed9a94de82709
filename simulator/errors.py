"""Errors that reach the user: each names where the bad input is and maps to an exit code."""

from __future__ import annotations

import re
import reprlib
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


# What cannot be shown as it is: C0 control characters (a newline in a name would split a
# one-line message or a frame's text line) and lone surrogates (a byte that was not UTF-8,
# decoded with surrogateescape, which no strict UTF-8 stream can write).
_UNPRINTABLE = re.compile("[\x00-\x1f\ud800-\udfff]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """`text` as billsim shows names and messages everywhere, on one line: a control
    character or a lone surrogate as JSON writes it (`\\n`, `\\u0007`, `\\udcff` for the
    byte 0xFF), everything else as it is."""
    return text if text.isprintable() else _UNPRINTABLE.sub(_escape, text)


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
        return printable(f"{where}{field}{self.message}")


class _Quote(reprlib.Repr):
    """reprlib's short repr, also for dict and list subclasses (the YAML loader's lined
    ones), and for a whole number too long for `repr` (past 4,300 digits it raises)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = 80
        self.maxlong = 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 4
        self.maxlevel = 2

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, bool) or x is None:
            return repr(x)
        if isinstance(x, int):
            if x.bit_length() > 4 * self.maxlong:
                return f"<a whole number of {x.bit_length()} bits>"
            return self.repr_int(x, level)
        if isinstance(x, str):
            return self.repr_str(x, level)
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        if isinstance(x, list):
            return self.repr_list(x, level)
        if isinstance(x, tuple):
            return self.repr_tuple(x, level)
        return super().repr1(x, level)


_QUOTE = _Quote()


def quoted(value: Any) -> str:
    """`value` as an error message quotes it: its repr, cut short (a long text keeps its
    start and end, a deep or long list its first items), so that no input makes a
    message long, or slow to build."""
    return _QUOTE.repr(value)
