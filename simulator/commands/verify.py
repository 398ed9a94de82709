"""`billsim verify`: a consumer's bill against a run's ground truth, as a table or JSON.

Reads the expected REPORT (a run's --summary) and the actual one: a REPORT file
(docs/verification.md) or the store the reference add-in wrote (its bill, as `billsim
report` prints it, and the seq numbers it holds of the run), reconciles them
(simulator/verify/reconcile.py), writes the outcome and returns the exit code: 0 equal,
1 different; bad input raises InputError (exit 2).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from simulator.adapters.stores import read_rows
from simulator.addin.bill import bill
from simulator.commands.columns import aligned
from simulator.domino.server import BILL_FIELDS
from simulator.errors import EXIT_FAILED, EXIT_OK, InputError
from simulator.scenario.names import common_name
from simulator.verify.reconcile import (
    MONEY_FIELDS,
    Amount,
    Bill,
    Reconciliation,
    SeqFindings,
    read_bill,
    reconcile,
)

# The store URLs of `billsim addin --store`: reading one is wired with the stores.
_STORE_PREFIXES: Final = ("sqlite:", "postgresql:", "postgres:", "nbf:")
_HEADERS: Final = ("user", "field", "expected", "actual", "difference")


def read_text(path: str) -> str:
    """A REPORT file's text; InputError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text ({error.reason})", file=path) from None
    except OSError as error:
        raise InputError(error.strerror or str(error), file=path) from None


def verify_files(expected: str, actual: str, out: TextIO, *, as_json: bool = False) -> int:
    """Reconcile the bill in ``actual`` with the ground truth in ``expected`` and write
    the outcome to ``out``; the exit code."""
    if expected.startswith(_STORE_PREFIXES):
        raise InputError(
            "the ground truth is a REPORT file: run --summary FILE", field="--expected"
        )
    expected_text = read_text(expected)
    expected_bill = read_bill(expected_text, expected)
    if actual.startswith(_STORE_PREFIXES):
        tables = read_rows(actual)
        actual_bill: Bill = bill(tables)
        seq = _seq_findings(json.loads(expected_text), tables)
    else:
        actual_bill, seq = read_bill(read_text(actual), actual), []
    result = reconcile(expected_bill, actual_bill, seq)
    if as_json:
        json.dump(result_json(result, expected, actual), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        write_table(result, expected, actual, out)
    return EXIT_OK if result.equal else EXIT_FAILED


def _seq_findings(
    summary: Any, tables: Mapping[str, Iterable[Mapping[str, Any]]]
) -> list[SeqFindings]:
    """The seq numbers of the summary's run (1..records) that the store lacks or holds
    twice — of each server's run, for a domain's summary (its `servers`); none to tell
    when the summary is of a run without MQTT (no `run`) or the store keeps no run ids
    (an NBF file holds frames only)."""
    if not isinstance(summary, dict):
        return []
    servers = summary.get("servers")
    candidates = list(servers.values()) if isinstance(servers, dict) else [summary]
    runs = [s for s in candidates if isinstance(s, dict) and isinstance(s.get("run"), str)]
    if not runs or not any(row.get("run") for rows in tables.values() for row in rows):
        return []
    records = {
        (common_name(str(s.get("server", ""))), s["run"]): int(s.get("records", 0)) for s in runs
    }
    stored: dict[tuple[str, str], Counter[int]] = {key: Counter() for key in records}
    for name, rows in tables.items():
        if name == "rejects":
            continue
        for row in rows:
            counter = stored.get((row.get("server"), row.get("run")))  # type: ignore[arg-type]
            if counter is not None and row.get("seq"):
                counter[int(row["seq"])] += 1
    return [
        SeqFindings.of(server, run, count, stored[server, run])
        for (server, run), count in records.items()
    ]


def result_json(result: Reconciliation, expected: str, actual: str) -> dict[str, Any]:
    """The outcome as `--format json` writes it (docs/verification.md)."""
    return {
        "equal": result.equal,
        "expected": expected,
        "actual": actual,
        "users": result.users,
        "fields": list(BILL_FIELDS),
        "differences": [
            {
                "user": d.user,
                "field": d.field,
                "expected": d.expected,
                "actual": d.actual,
                "difference": d.difference,
            }
            for d in result.differences
        ],
        "missing_from_actual": list(result.missing_from_actual),
        "missing_from_expected": list(result.missing_from_expected),
        "seq": [
            {
                "server": s.server,
                "run": s.run,
                "missing": list(s.missing),
                "duplicated": list(s.duplicated),
            }
            for s in result.seq
        ],
    }


def write_table(result: Reconciliation, expected: str, actual: str, out: TextIO) -> None:
    """The outcome for people: one row per (user, field) that differs, the users on one
    side only, the seq findings, then the verdict."""
    rows = [
        (
            d.user,
            d.field,
            _amount_text(d.field, d.expected),
            _amount_text(d.field, d.actual),
            _amount_text(d.field, d.difference, signed=True),
        )
        for d in result.differences
    ]
    if rows:
        for line in aligned([_HEADERS, *rows], left=2):
            out.write(line + "\n")
    for user in result.missing_from_actual:
        out.write(f"missing from {actual}: {user}\n")
    for user in result.missing_from_expected:
        out.write(f"not in {expected}: {user}\n")
    for findings in result.seq:
        if findings.missing:
            out.write(
                f"{findings.server} run {findings.run}: seq missing {_seqs(findings.missing)}\n"
            )
        if findings.duplicated:
            out.write(
                f"{findings.server} run {findings.run}: seq stored twice "
                f"{_seqs(findings.duplicated)}\n"
            )
    fields = len(BILL_FIELDS)
    if result.equal:
        out.write(f"EQUAL: {result.users} users, {fields} fields each, {actual} = {expected}\n")
        return
    differing = len({d.user for d in result.differences})
    out.write(
        f"DIFFERENT: {len(result.differences)} differences in {differing} of "
        f"{result.users} users ({fields} fields each), {actual} against {expected}\n"
    )


def _amount_text(field: str, value: Amount, *, signed: bool = False) -> str:
    sign = "+" if signed and value > 0 else ""
    if field in MONEY_FIELDS:
        return sign + f"{value:.6f}".rstrip("0").rstrip(".")
    return sign + str(value)


def _seqs(numbers: tuple[int, ...]) -> str:
    """Seq numbers as ranges: 3-5, 9."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in (*numbers[1:], None):
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ", ".join(parts)
