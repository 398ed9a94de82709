"""`billsim verify`: a consumer's bill against a run's ground truth, as a table or JSON.

Reads the expected REPORT (a run's --summary) and the actual one: a REPORT file
(docs/verification.md) or the store the reference add-in wrote (its bill, as `billsim
report` prints it, and the seq numbers it holds of the run), reconciles them
(simulator/verify/reconcile.py), judges what differs against the faults the run injected
(simulator/verify/explain.py), holds the add-in's summary against the thresholds asked
for (simulator/verify/thresholds.py), writes the outcome and returns the exit code: 0
equal or every difference explained and every threshold met, 1 any other; bad input
raises InputError (exit 2).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from simulator.adapters.stores import read_rows
from simulator.addin.bill import bill
from simulator.commands.columns import aligned
from simulator.domino.server import BILL_FIELDS
from simulator.errors import EXIT_FAILED, EXIT_OK, InputError
from simulator.scenario.names import common_name
from simulator.verify.explain import (
    MISSING,
    STORED_TWICE,
    DifferenceVerdict,
    Explanation,
    Fault,
    Findings,
    SeqVerdict,
    Touch,
    explain,
    read_faults,
)
from simulator.verify.jsonfile import load_json
from simulator.verify.reconcile import (
    MONEY_FIELDS,
    Amount,
    Bill,
    FieldDifference,
    Reconciliation,
    SeqFindings,
    read_bill,
    reconcile,
)
from simulator.verify.thresholds import (
    MAX_LAG,
    MAX_P99,
    MAX_REJECTS,
    ThresholdCheck,
    Thresholds,
    judge,
    read_addin_figures,
)

# The store URLs of `billsim addin --store`: reading one is wired with the stores.
_STORE_PREFIXES: Final = ("sqlite:", "postgresql:", "postgres:", "nbf:")
# Stores whose every row has a run and seq column: one that holds no row of a run lacks
# all of its seqs (an NBF file's come from its index, which one run --out wrote lacks).
_SEQ_STORE_PREFIXES: Final = ("sqlite:", "postgresql:", "postgres:")
_HEADERS: Final = ("user", "field", "expected", "actual", "difference")


def read_text(path: str, option: str | None = None, *, or_store: bool = False) -> str:
    """A REPORT file's text; InputError naming the file (and the `option` that gave it)
    when it cannot be read. `or_store`:
    where a store's URL would do too, a file that is no text (a store given by its path)
    is told how to name a store."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        hint = (
            "; a store is given by its URL: sqlite:///PATH, postgresql://… or nbf:PATH"
            if or_store
            else ""
        )
        raise InputError(
            f"not UTF-8 text ({error.reason}), so no REPORT{hint}", file=path, field=option
        ) from None
    except OSError as error:
        raise InputError(error.strerror or str(error), file=path, field=option) from None


def verify_files(
    expected: str,
    actual: str,
    out: TextIO,
    *,
    as_json: bool = False,
    thresholds: Thresholds | None = None,
    addin_summary: str | None = None,
    result_path: Path | None = None,
) -> int:
    """Reconcile the bill in ``actual`` with the ground truth in ``expected``, judge what
    differs against the faults the run injected (its summary's ``faults``), hold the
    add-in's summary (``addin_summary``) against the ``thresholds``, and write the outcome
    to ``out`` (and as JSON to ``result_path``); the exit code."""
    thresholds = thresholds or Thresholds()
    if thresholds.given and addin_summary is None:
        asked = [
            f"--{name}"
            for name, limit in (
                (MAX_P99, thresholds.max_p99_us),
                (MAX_LAG, thresholds.max_lag_us),
                (MAX_REJECTS, thresholds.max_rejects),
            )
            if limit is not None
        ]
        raise InputError(
            f"{' and '.join(asked)} {'is' if len(asked) == 1 else 'are'} held against the "
            "add-in's summary: give it (billsim addin --summary FILE writes it)",
            field="--addin-summary",
        )
    if expected.startswith(_STORE_PREFIXES):
        raise InputError(
            "the ground truth is a REPORT file: run --summary FILE", field="--expected"
        )
    figures = None
    if addin_summary is not None:
        figures = read_addin_figures(read_text(addin_summary, "--addin-summary"), addin_summary)
    expected_text = read_text(expected, "--expected")
    # A CSV REPORT is a bill only: no run, no seq numbers, no faults. A summary is read
    # once, for its bill and the rest (a million users' is seconds of JSON).
    summary = load_json(expected_text, expected) if expected_text.lstrip().startswith("{") else None
    expected_bill = read_bill(expected_text, expected, summary)
    faults = read_faults(summary, expected_text, expected)
    unkeyed: dict[str, int] = {}
    if actual.startswith(_STORE_PREFIXES):
        tables = read_rows(actual)
        actual_bill: Bill = bill(tables)
        unkeyed = frames_without_key(tables)
        seq = _seq_findings(
            summary, tables, unkeyed, keeps_seq=actual.startswith(_SEQ_STORE_PREFIXES)
        )
    else:
        actual_bill, seq = read_bill(read_text(actual, "--actual", or_store=True), actual), []
    explanation = explain(reconcile(expected_bill, actual_bill, seq), faults)
    checks = judge(thresholds, figures) if figures is not None else []
    result_file = None
    if result_path is not None:
        try:
            result_file = result_path.open("w", encoding="utf-8")
        except OSError as error:
            raise InputError(error.strerror or str(error), file=str(result_path)) from None
    outcome = result_json(explanation, expected, actual, checks, addin_summary, unkeyed)
    with result_file or contextlib.nullcontext():
        if result_file is not None:
            _dump(outcome, result_file)
        if as_json:
            _dump(outcome, out)
        else:
            write_table(explanation, expected, actual, out, unkeyed)
            write_thresholds(checks, addin_summary, out)
    return EXIT_OK if outcome["passed"] else EXIT_FAILED


def _dump(outcome: dict[str, Any], out: TextIO) -> None:
    json.dump(outcome, out, indent=2, ensure_ascii=False)
    out.write("\n")


def frames_without_key(tables: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, int]:
    """By server, the stored frames that have no run or no seq: those an add-in took on
    MQTT 3.1.1 without `--topic-meta` (it keeps every copy, duplicates cannot be told
    apart), or an NBF file's without the add-in's index."""
    counts = Counter[str]()
    for name, rows in tables.items():
        if name == "rejects":
            continue
        for row in rows:
            if row.get("run") is None or row.get("seq") is None:
                counts[str(row.get("server") or "")] += 1
    return dict(sorted(counts.items()))


def _seq_findings(
    summary: Any,
    tables: Mapping[str, Iterable[Mapping[str, Any]]],
    unkeyed: Mapping[str, int] | None = None,
    *,
    keeps_seq: bool = False,
) -> list[SeqFindings]:
    """The seq numbers of the summary's run (1..records) that the store lacks or holds
    twice — of each server's run, for a domain's summary (its `servers`); none to tell
    when the summary is of a run without MQTT (no `run`), the store keeps no run ids (an
    NBF file without the add-in's index), or, for a server, when some of its frames came
    without run and seq (`unkeyed`: which of them are missing or twice is unknown).
    `keeps_seq`: the store is relational, so one holding no row with a run (every frame
    lost) lacks every seq of the run; else such a store is taken to keep no run ids."""
    if not isinstance(summary, dict):
        return []
    servers = summary.get("servers")
    candidates = list(servers.values()) if isinstance(servers, dict) else [summary]
    runs = [s for s in candidates if isinstance(s, dict) and isinstance(s.get("run"), str)]
    runs = [s for s in runs if common_name(str(s.get("server", ""))) not in (unkeyed or {})]
    if not runs:
        return []
    if not keeps_seq and not any(row.get("run") for rows in tables.values() for row in rows):
        return []
    records = {
        (common_name(str(s.get("server", ""))), s["run"]): int(s.get("records", 0)) for s in runs
    }
    stored: dict[tuple[str, str], Counter[int]] = {key: Counter() for key in records}
    for name, rows in tables.items():
        if name == "rejects":
            continue
        for row in rows:
            server, run = row.get("server"), row.get("run")
            counter = (
                stored.get((server, run))
                if isinstance(server, str) and isinstance(run, str)
                else None
            )
            if counter is not None and row.get("seq"):
                counter[int(row["seq"])] += 1
    return [
        SeqFindings.of(server, run, count, stored[server, run])
        for (server, run), count in records.items()
    ]


def result_json(
    explanation: Explanation,
    expected: str,
    actual: str,
    checks: Sequence[ThresholdCheck] = (),
    addin_summary: str | None = None,
    unkeyed: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The outcome as `--format json` writes it (docs/verification.md): the consumer's
    differences apart from those the injected faults explain, and the thresholds;
    `without_seq`: by server, the stored frames without run and seq (compared on totals
    only)."""
    result = explanation.reconciliation
    return {
        "equal": result.equal,
        "passed": explanation.passed and all(check.met for check in checks),
        "verdict": _verdict(explanation, expected, actual, unkeyed),
        "totals_only": bool(unkeyed),
        "without_seq": dict(unkeyed or {}),
        "expected": expected,
        "actual": actual,
        "addin_summary": addin_summary,
        "thresholds": [_threshold_json(check) for check in checks],
        "thresholds_missed": [check.name for check in checks if not check.met],
        "users": result.users,
        "fields": list(BILL_FIELDS),
        "differences": [
            {**_difference_json(v.difference), "touched_by": _touches_json(v.touched_by)}
            for v in explanation.differences
            if not v.explained
        ],
        "explained": [
            {**_difference_json(v.difference), "explained_by": _touches_json(v.explained_by)}
            for v in explanation.differences
            if v.explained
        ],
        "missing_from_actual": list(result.missing_from_actual),
        "missing_from_expected": list(result.missing_from_expected),
        "seq": [_seq_json(findings, explanation.seq) for findings in result.seq],
        "faults": [_fault_json(fault, explanation) for fault in explanation.faults],
    }


def _threshold_json(check: ThresholdCheck) -> dict[str, Any]:
    return {
        "name": check.name,
        "figure": check.figure,
        "unit": check.unit,
        "limit": check.limit,
        "actual": check.actual,
        "met": check.met,
        "note": check.note,
    }


def _difference_json(d: FieldDifference) -> dict[str, Any]:
    return {
        "user": d.user,
        "field": d.field,
        "expected": d.expected,
        "actual": d.actual,
        "difference": d.difference,
    }


def _touches_json(touches: Iterable[Touch]) -> list[dict[str, Any]]:
    return [
        {
            "fault": t.fault.kind,
            "number": t.fault.number,
            "server": t.fault.server,
            "run": t.fault.run,
            "seq": list(t.seq),
        }
        for t in touches
    ]


def _seq_json(findings: SeqFindings, verdicts: Iterable[SeqVerdict]) -> dict[str, Any]:
    """One server's run: the seqs missing that no fault explains, those stored twice,
    the explained ones with their faults, and the faults that touched unexplained ones."""
    mine = [v for v in verdicts if (v.server, v.run) == (findings.server, findings.run)]
    return {
        "server": findings.server,
        "run": findings.run,
        "missing": sorted(
            s for v in mine if v.finding == MISSING and not v.explained for s in v.seq
        ),
        "duplicated": list(findings.duplicated),
        "explained": [
            {"seq": list(v.seq), "explained_by": _touches_json(v.explained_by)}
            for v in mine
            if v.explained
        ],
        "touched": [
            {"finding": v.finding, "seq": list(v.seq), "touched_by": _touches_json(v.touched_by)}
            for v in mine
            if not v.explained and v.touched_by
        ],
    }


def _fault_json(fault: Fault, explanation: Explanation) -> dict[str, Any]:
    return {
        "number": fault.number,
        "fault": fault.kind,
        "server": fault.server,
        "run": fault.run,
        "seq": list(fault.seq),
        "explains": _findings_json(explanation.explained_by(fault)),
        "touches": _findings_json(explanation.touched_by(fault)),
    }


def _findings_json(findings: Findings) -> dict[str, Any]:
    return {
        "differences": [
            {"user": v.difference.user, "field": v.difference.field} for v in findings.differences
        ],
        "missing": sorted(n for v in findings.seq if v.finding == MISSING for n in v.seq),
        "stored_twice": sorted(n for v in findings.seq if v.finding == STORED_TWICE for n in v.seq),
    }


def write_table(
    explanation: Explanation,
    expected: str,
    actual: str,
    out: TextIO,
    unkeyed: Mapping[str, int] | None = None,
) -> None:
    """The outcome for people: the differences no fault explains (the consumer's), with
    the users on one side only and the seq findings; then those the injected faults
    explain, each naming its faults; then every injected fault; then, for frames stored
    without run and seq, that they were compared on totals only; then the verdict."""
    result = explanation.reconciliation
    consumers = [v for v in explanation.differences if not v.explained]
    explained = [v for v in explanation.differences if v.explained]
    _write_differences(consumers, out)
    for verdict in consumers:
        d = verdict.difference
        for touch in _merged(verdict.touched_by):
            why = _cannot(touch.fault, field=d.field)
            out.write(f"  {d.user} {d.field}: {_touch_text(touch)} {why}\n")
    # A user on one side only goes with its differences: the consumer's unless all explained.
    users_of_consumers = {v.difference.user for v in consumers}
    _write_missing_users(result, expected, actual, users_of_consumers, out)
    for found in explanation.seq:
        if not found.explained:
            line = f"{found.server} run {found.run}: seq {found.finding} {_seqs(found.seq)}"
            notes = [
                f"{_touch_text(t)} {_cannot(t.fault, found.finding)}" for t in found.touched_by
            ]
            out.write(line + "".join(f"; {note}" for note in notes) + "\n")
    explained_seq = [v for v in explanation.seq if v.explained]
    if explained or explained_seq:
        out.write("explained by injected faults:\n")
        _write_differences(explained, out)
        explained_users = {v.difference.user for v in explained} - users_of_consumers
        _write_missing_users(result, expected, actual, explained_users, out)
        for found in explained_seq:
            out.write(
                f"{found.server} run {found.run}: seq {found.finding} "
                f"{_seqs(found.seq)}: {_touches_text(found.explained_by)}\n"
            )
    _write_faults(explanation, out)
    for server, count in (unkeyed or {}).items():
        out.write(
            f"{server or 'a server'}: {_count(count, 'frame')} in {actual} "
            f"{'has' if count == 1 else 'have'} no run and seq (taken on MQTT 3.1.1 without "
            "--topic-meta, or an NBF file without the add-in's index): which are missing or "
            "stored twice cannot be told, compared on totals only\n"
        )
    out.write(_verdict(explanation, expected, actual, unkeyed) + "\n")


def write_thresholds(
    checks: Sequence[ThresholdCheck], addin_summary: str | None, out: TextIO
) -> None:
    """Each threshold with its figure and limit, then a line naming those missed (or
    saying all were met); nothing when none was asked for."""
    if not checks:
        return
    out.write(f"thresholds against {addin_summary}:\n")
    rows = [
        (
            "met" if check.met else "MISSED",
            check.name,
            check.figure,
            threshold_value_text(check.actual, check.unit) if check.actual is not None else "-",
            "at most " + threshold_value_text(check.limit, check.unit),
        )
        for check in checks
    ]
    for line, check in zip(aligned(rows, left=3), checks, strict=True):
        out.write(f"  {line}" + (f"  ({check.note})" if check.note else "") + "\n")
    missed = [check for check in checks if not check.met]
    if missed:
        out.write("THRESHOLDS MISSED: " + "; ".join(map(threshold_text, missed)) + "\n")
    else:
        out.write(f"THRESHOLDS MET: {len(checks)} of {len(checks)}\n")


def threshold_text(check: ThresholdCheck) -> str:
    """`max-p99 (p99 latency 312.4 ms, at most 100 ms)`."""
    actual = (
        threshold_value_text(check.actual, check.unit) if check.actual is not None else check.note
    )
    return (
        f"{check.name} ({check.figure} {actual}, at most "
        f"{threshold_value_text(check.limit, check.unit)})"
    )


def threshold_value_text(value: float, unit: str) -> str:
    """A latency in ms as people read it (`312.4 ms`, `5 s`); a count as a whole number."""
    if unit != "ms":
        return f"{value:,.0f}"
    if value >= 1000:
        return f"{value / 1000:,.3f}".rstrip("0").rstrip(".") + " s"
    return f"{value:,.1f}".rstrip("0").rstrip(".") + " ms"


def _write_differences(verdicts: list[DifferenceVerdict], out: TextIO) -> None:
    """The (user, field) rows, with the faults that explain each at the end of its row."""
    if not verdicts:
        return
    rows = [
        (
            v.difference.user,
            v.difference.field,
            _amount_text(v.difference.field, v.difference.expected),
            _amount_text(v.difference.field, v.difference.actual),
            _amount_text(v.difference.field, v.difference.difference, signed=True),
        )
        for v in verdicts
    ]
    lines = aligned([_HEADERS, *rows], left=2)
    out.write(lines[0] + ("  fault" if verdicts[0].explained else "") + "\n")
    for line, verdict in zip(lines[1:], verdicts, strict=True):
        faults = _touches_text(verdict.explained_by)
        out.write(line + (f"  {faults}" if faults else "") + "\n")


def _write_missing_users(
    result: Reconciliation, expected: str, actual: str, users: set[str], out: TextIO
) -> None:
    for user in result.missing_from_actual:
        if user in users:
            out.write(f"missing from {actual}: {user}\n")
    for user in result.missing_from_expected:
        if user in users:
            out.write(f"not in {expected}: {user}\n")


_FAULTS_SHOWN: Final = 50
"""Faults listed one a line: a long run can inject thousands (--format json lists all)."""


def _write_faults(explanation: Explanation, out: TextIO) -> None:
    """Every injected fault, with how many findings it explains and how many it touched
    without explaining them (a duplicate billed twice: the consumer's, listed above)."""
    faults = explanation.faults
    if not faults:
        return
    out.write(f"injected faults ({len(faults)}):\n")
    for fault in faults[:_FAULTS_SHOWN]:
        explains = _findings_text(explanation.explained_by(fault))
        touches = _findings_text(explanation.touched_by(fault))
        parts = [f"explains {explains}"] if explains else []
        if touches:
            parts.append(f"touches {touches} it does not explain")
        out.write(f"  {fault.number}. {_fault_text(fault)}: ")
        out.write(("; ".join(parts) if parts else "explains nothing verify found") + "\n")
    if len(faults) > _FAULTS_SHOWN:
        out.write(f"  … and {len(faults) - _FAULTS_SHOWN} more (--format json lists every one)\n")


def _findings_text(findings: Findings) -> str:
    """`2 differences and 1 missing seq`; empty for none."""
    missing = sum(len(v.seq) for v in findings.seq if v.finding == MISSING)
    twice = sum(len(v.seq) for v in findings.seq if v.finding == STORED_TWICE)
    parts = [
        _count(len(findings.differences), "difference"),
        _count(missing, "missing seq"),
        _count(twice, "seq") + " stored twice",
    ]
    counts = (len(findings.differences), missing, twice)
    return " and ".join(part for part, count in zip(parts, counts, strict=True) if count)


def _verdict(
    explanation: Explanation, expected: str, actual: str, unkeyed: Mapping[str, int] | None = None
) -> str:
    verdict = _verdict_of_bill(explanation, expected, actual)
    if unkeyed:
        frames = sum(unkeyed.values())
        verdict += f" (totals only: {_count(frames, 'frame')} without run and seq)"
    return verdict


def _verdict_of_bill(explanation: Explanation, expected: str, actual: str) -> str:
    result = explanation.reconciliation
    fields = len(BILL_FIELDS)
    if result.equal:
        who = f"{result.users} user{'' if result.users == 1 else 's'}"
        return f"EQUAL: {who}, {fields} fields each, {actual} = {expected}"
    explained = [v for v in explanation.differences if v.explained]
    consumers = [v for v in explanation.differences if not v.explained]
    if explanation.passed:
        users = len({v.difference.user for v in explained})
        missing = sum(len(v.seq) for v in explanation.seq)
        seqs = f" and {_count(missing, 'missing seq')}" if missing else ""
        return (
            f"EXPLAINED: {_count(len(explained), 'difference')} in {users} of {result.users} "
            f"users ({fields} fields each){seqs}, each by an injected fault, "
            f"{actual} against {expected}"
        )
    users = len({v.difference.user for v in consumers})
    seq_counts = Counter[str]()
    for verdict in explanation.seq:
        if not verdict.explained:
            seq_counts[verdict.finding] += len(verdict.seq)
    seqs = "".join(
        f", {_count(seq_counts[finding], 'seq')} {finding}"
        for finding in (MISSING, STORED_TWICE)
        if seq_counts[finding]
    )
    faults = ""
    if explanation.faults:
        others = len(explained) + sum(len(v.seq) for v in explanation.seq if v.explained)
        faults = f" that no injected fault explains ({_count(others, 'other finding')} explained)"
    return (
        f"DIFFERENT: {_count(len(consumers), 'difference')} in {users} of {result.users} users "
        f"({fields} fields each){seqs}{faults}, {actual} against {expected}"
    )


def _fault_text(fault: Fault) -> str:
    """`truncate on Mail01 seq 40-41`: the kind, the server and every seq it touched."""
    return _touch_text(Touch(fault, fault.seq))


def _touch_text(touch: Touch) -> str:
    text = f"{touch.fault.kind} on {touch.fault.server_name}"
    return text + (f" seq {_seqs(touch.seq)}" if touch.seq else "")


def _touches_text(touches: Iterable[Touch]) -> str:
    """`crash on Mail01 seq 537; reorder on Mail01 seq 1041, 2728`."""
    return "; ".join(map(_touch_text, _merged(touches)))


def _merged(touches: Iterable[Touch]) -> list[Touch]:
    """One touch per kind of fault and server (several reorder events that touched one
    user read as one), in the order they first appear, with every seq of theirs that bears
    on the finding; each stands for the first fault of its kind and server."""
    merged: dict[tuple[str, str], tuple[Fault, set[int]]] = {}
    for touch in touches:
        key = (touch.fault.kind, touch.fault.server_name)
        merged.setdefault(key, (touch.fault, set()))[1].update(touch.seq)
    return [Touch(fault, tuple(sorted(seq))) for fault, seq in merged.values()]


def _cannot(fault: Fault, finding: str | None = None, *, field: str | None = None) -> str:
    """Why a fault that touched a finding does not explain it."""
    if field is not None and fault.kind in ("reorder", "clock_step"):
        return f"moved it: {field} bills the same in any order"
    if fault.kind == "duplicate":
        return "published it twice: a consumer stores and bills it once"
    if fault.kind == "wrap":
        return "wrapped a counter there: that is off by a multiple of 2^32"
    if finding == MISSING:
        return "touched it: that fault takes no frame away"
    return "touched it: that fault changes no amount"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


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
