"""Reconcile a run's ground truth with a consumer's bill, user by user and field by field.

Pure: the two bills come in as text in the REPORT forms of docs/verification.md (JSON
``{"users": {name: {field: value}}}``, the run summary's own shape, or CSV with a
``user,sessions,bytes_in,…`` header) and are read by ``read_bill``; ``reconcile`` takes
two ``{user: {field: value}}`` mappings, plus what a store says of the ``seq`` numbers
(``SeqFindings``, per server and run), and says what differs.

Rules: every field of ``BILL_FIELDS`` is compared; charges within half a cent
(``MONEY_TOLERANCE``), every other field exactly. A user on one side only is compared
with zeros: a user whose totals are all zero is the same as no user at all (a consumer
need not list a user it bills nothing), any other is a missing user, and each of its
non-zero fields a difference.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError, quoted
from simulator.verify.jsonfile import load_json, too_long

MONEY_FIELDS: Final = frozenset({"charges"})
MONEY_TOLERANCE: Final = 0.005
"""Half a cent: two charges totals that round to the same cent are equal."""
# 0.13 - 0.125 is a hair above 0.005 in binary: that hair is not a difference.
_BINARY_SLACK: Final = 1e-9

Amount: TypeAlias = int | float
Bill: TypeAlias = Mapping[str, Mapping[str, Amount]]
"""A bill: user -> bill field -> total."""


# -- reading a bill ------------------------------------------------------------------------


_SHOWN = 40  # characters of a file's first line in the error when it is no REPORT


def read_bill(text: str, source: str, document: Any = None) -> dict[str, dict[str, Amount]]:
    """The bill in ``text``, JSON or CSV (told apart by its first non-blank character,
    ``{`` for JSON); ``source`` names the file in errors. InputError (file:line: field)
    for anything that is not a REPORT. ``document``: the JSON text already read (by a
    caller that reads the rest of a run's summary too), so it is not read twice."""
    if not text.strip():
        raise InputError("empty: no bill", file=source, line=1)
    if text.lstrip().startswith("{"):
        return read_bill_json(text, source, document)
    return read_bill_csv(text, source)


def read_bill_json(text: str, source: str, document: Any = None) -> dict[str, dict[str, Amount]]:
    """A JSON REPORT: an object whose ``users`` maps each user to every bill field (other
    keys are ignored, so a run summary is a REPORT); ``document`` as for `read_bill`."""
    if document is None:
        document = load_json(text, source)
    if not isinstance(document, dict) or not isinstance(document.get("users"), dict):
        raise InputError('no "users" object at the top level', file=source, line=1, field="users")
    bill: dict[str, dict[str, Amount]] = {}
    for user, totals in document["users"].items():
        if not isinstance(totals, dict):
            raise InputError(
                "not an object of bill fields",
                file=source,
                line=_json_line(text, user),
                field=f"users.{user}",
            )
        fields = dict(totals)
        for name in sorted(fields.keys() - set(BILL_FIELDS)):
            raise InputError(
                f"unknown bill field (the fields: {', '.join(BILL_FIELDS)})",
                file=source,
                line=_json_line(text, user, name),
                field=f"users.{user}.{name}",
            )
        bill[user] = {}
        for name in BILL_FIELDS:
            if name not in fields:
                raise InputError(
                    "missing",
                    file=source,
                    line=_json_line(text, user),
                    field=f"users.{user}.{name}",
                )
            value = fields[name]
            amount = _amount(name, value) if isinstance(value, int | float) else None
            if amount is None:
                raise InputError(
                    f"{_wanted(name)}, not {json.dumps(value)}",
                    file=source,
                    line=_json_line(text, user, name),
                    field=f"users.{user}.{name}",
                )
            bill[user][name] = amount
    return bill


def read_bill_csv(text: str, source: str) -> dict[str, dict[str, Amount]]:
    """A CSV REPORT: the header ``user`` and every bill field (in any order), then one row
    per user."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as error:
        raise InputError(f"not CSV: {error}", file=source, line=reader.line_num) from None
    columns = [name.strip() for name in header]
    if not columns or columns[0] != "user":
        # Whatever is not JSON is read as CSV: say what a REPORT is, and what this was.
        first = ",".join(header)
        shown = first[:_SHOWN] + ("…" if len(first) > _SHOWN else "")
        raise InputError(
            f'not a REPORT: JSON starts with {{, CSV with a header that starts with "user" '
            f"(this starts with {shown!r})",
            file=source,
            line=1,
        )
    for name in columns[1:]:
        if name not in BILL_FIELDS or columns.count(name) > 1:
            problem = "a column twice" if name in BILL_FIELDS else "unknown bill field"
            raise InputError(problem, file=source, line=1, field=name)
    for name in BILL_FIELDS:
        if name not in columns:
            raise InputError("missing from the header", file=source, line=1, field=name)
    bill: dict[str, dict[str, Amount]] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # a blank line, as at the end of many exports
            if len(row) != len(columns):
                raise InputError(
                    f"{len(row)} cells, the header has {len(columns)}", file=source, line=line
                )
            user = row[0]
            if not user:
                raise InputError("no user name", file=source, line=line, field="user")
            if user in bill:
                raise InputError(f"{user!r} is on an earlier line too", file=source, line=line)
            totals: dict[str, Amount] = {}
            for name, cell in zip(columns[1:], row[1:], strict=True):
                if refused := too_long(cell):
                    raise InputError(refused, file=source, line=line, field=name)
                amount = _amount(name, _number(cell))
                if amount is None:
                    raise InputError(
                        f"{_wanted(name)}, not {quoted(cell)}", file=source, line=line, field=name
                    )
                totals[name] = amount
            bill[user] = {name: totals[name] for name in BILL_FIELDS}
    except csv.Error as error:
        raise InputError(f"not CSV: {error}", file=source, line=reader.line_num) from None
    return bill


def _number(cell: str) -> int | float | None:
    text = cell.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def _amount(field: str, value: int | float | None) -> Amount | None:
    """The value as the bill holds it, or None when it cannot be one: money a finite
    number, the rest a whole number (``12.0`` is 12); none below zero."""
    if value is None or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        return None
    if field in MONEY_FIELDS:
        return float(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


def _wanted(field: str) -> str:
    return "a number of at least 0" if field in MONEY_FIELDS else "a whole number of at least 0"


def _json_line(text: str, user: str, field: str | None = None) -> int | None:
    """The line of ``user``'s key (and of ``field`` after it) in ``text``; None when the
    key is not written as json.dumps would write it."""
    at = text.find(json.dumps(user, ensure_ascii=False) + ":")
    if at < 0:
        at = text.find(json.dumps(user) + ":")
    if at < 0:
        return None
    if field is not None:
        found = text.find(json.dumps(field), at)
        if found >= 0:
            at = found
    return text.count("\n", 0, at) + 1


# -- comparing two bills -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDifference:
    """One (user, field) whose totals differ: ``difference`` is actual minus expected."""

    user: str
    field: str
    expected: Amount
    actual: Amount

    @property
    def difference(self) -> Amount:
        if self.field in MONEY_FIELDS:
            return round(self.actual - self.expected, 6)
        return self.actual - self.expected


@dataclass(frozen=True)
class SeqFindings:
    """What a store holds of one server's run: the ``seq`` numbers it lacks and those it
    holds more than once."""

    server: str
    run: str
    missing: tuple[int, ...]
    duplicated: tuple[int, ...]

    @classmethod
    def of(cls, server: str, run: str, frames: int, stored: Mapping[int, int]) -> SeqFindings:
        """A run that wrote seq 1..``frames`` against how often each seq was ``stored``."""
        missing = tuple(seq for seq in range(1, frames + 1) if not stored.get(seq))
        duplicated = tuple(sorted(seq for seq, count in stored.items() if count > 1))
        return cls(server, run, missing, duplicated)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.duplicated


@dataclass(frozen=True)
class Reconciliation:
    """The outcome: users compared, the differences, the users on one side only (with any
    non-zero total) and the seq findings; ``equal`` when there is nothing to report."""

    users: int
    differences: tuple[FieldDifference, ...]
    missing_from_actual: tuple[str, ...]
    missing_from_expected: tuple[str, ...]
    seq: tuple[SeqFindings, ...]

    @property
    def equal(self) -> bool:
        return not self.differences and all(findings.clean for findings in self.seq)


_NOTHING: Final[Mapping[str, Amount]] = {}  # the totals of a user absent from one side


def reconcile(expected: Bill, actual: Bill, seq: Iterable[SeqFindings] = ()) -> Reconciliation:
    """Compare ``actual`` with ``expected``, every user of either and every bill field."""
    differences: list[FieldDifference] = []
    missing: dict[str, list[str]] = {"actual": [], "expected": []}
    users = sorted(expected.keys() | actual.keys())
    for user in users:
        wanted, got = expected.get(user, _NOTHING), actual.get(user, _NOTHING)
        if wanted is _NOTHING or got is _NOTHING:
            if not any(wanted.get(name, 0) or got.get(name, 0) for name in BILL_FIELDS):
                continue
            missing["expected" if wanted is _NOTHING else "actual"].append(user)
        for name in BILL_FIELDS:
            want, have = wanted.get(name, 0), got.get(name, 0)
            if not _same(name, want, have):
                differences.append(FieldDifference(user, name, want, have))
    return Reconciliation(
        users=len(users),
        differences=tuple(differences),
        missing_from_actual=tuple(missing["actual"]),
        missing_from_expected=tuple(missing["expected"]),
        seq=tuple(seq),
    )


def _same(field: str, expected: Amount, actual: Amount) -> bool:
    if field in MONEY_FIELDS:
        return abs(actual - expected) <= MONEY_TOLERANCE + _BINARY_SLACK
    return expected == actual
