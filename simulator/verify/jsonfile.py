"""JSON as verify and report read the files billsim wrote: a run's summary, a REPORT, the
add-in's summary, a verify result.

Pure: ``load_json`` is ``json.loads`` with three refusals, each an InputError naming the
file and the field (and the line where it can be told): a key written twice in one
object (json would keep the last without a word, so a bill could lose a user or a total),
a whole number of more than ``MAX_DIGITS`` digits (no figure billsim writes is that long;
past 308 digits it is no float, past 4,300 Python will not even read it) and objects
nested too deep to read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from simulator.errors import InputError

MAX_DIGITS: Final = 38
"""The longest whole number read: more than any bill total, count or seed billsim writes
(the scenario's own limit, scenario/yamlsource.py)."""


def too_long(number: str) -> str | None:
    """Why ``number`` (a whole number's text) is refused, None when it is not too long."""
    digits = number.strip().lstrip("+-")
    if digits.isdigit() and len(digits) > MAX_DIGITS:
        return f"a whole number of {len(digits):,} digits: too large for any figure"
    return None


# A run of more digits than MAX_DIGITS, looked for with every digit made a 0 (bytes'
# translate and find: a regex tries a match at every digit, a second for 60 MB).
_ZEROED = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * (MAX_DIGITS + 1)


def _has_long_digits(text: str) -> bool:
    return _LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_ZEROED)


class _Twice(dict[str, Any]):
    """An object that had ``key`` more than once: refused where it lies in the document."""

    key: str = ""


@dataclass(frozen=True)
class _TooLong:
    """A whole number too long to read, kept as its text."""

    text: str


def load_json(text: str, source: str) -> Any:
    """The JSON document in ``text``; ``source`` names the file in errors."""
    flawed: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        made = dict(items)
        if len(made) == len(items):
            return made
        flawed.append(True)
        twice, seen = _Twice(made), set[str]()
        for key, _ in items:
            if key in seen:
                twice.key = key
                break
            seen.add(key)
        return twice

    def whole(number: str) -> int | _TooLong:
        if too_long(number):
            flawed.append(True)
            return _TooLong(number)
        return int(number)

    # Each whole number through `whole` doubles the time of a big summary: only when the
    # text holds a run of digits that long somewhere (a string's digits count too).
    numbers: dict[str, Any] = {"parse_int": whole} if _has_long_digits(text) else {}
    try:
        document = json.loads(text, object_pairs_hook=pairs, **numbers)
    except json.JSONDecodeError as error:
        raise InputError(f"not JSON: {error.msg}", file=source, line=error.lineno) from None
    except RecursionError:
        raise InputError("not JSON billsim writes: nested too deep", file=source) from None
    if flawed:
        _refuse_first(document, text, source)
    return document


def _refuse_first(document: Any, text: str, source: str) -> None:
    """Raise for the first flaw in the document's order, at its field."""
    for path, value in _walk(document):
        if isinstance(value, _Twice):
            field = ".".join(p for p in (path, value.key) if p)
            raise InputError("a key twice in one object", file=source, field=field)
        if isinstance(value, _TooLong):
            # The number's own line: where its text stands as a value (not inside a string).
            found = re.search(r"[:\[,]\s*(" + re.escape(value.text) + r")\s*[,\]}]", text)
            line = text.count("\n", 0, found.start(1)) + 1 if found else None
            message = too_long(value.text) or ""
            raise InputError(message, file=source, line=line, field=path or None)


def _walk(document: Any) -> Iterator[tuple[str, Any]]:
    """Every value with its path (``users.U.sessions``, ``faults[3]``), in document order;
    without recursion, as the document may be as deep as json reads."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if isinstance(value, dict):
            children = [(f"{path}.{key}" if path else str(key), v) for key, v in value.items()]
        elif isinstance(value, list):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))
