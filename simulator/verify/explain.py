"""Tell the differences injected faults explain from those a consumer made.

Pure: ``read_faults`` reads the ``faults`` of a run summary (docs/verification.md:
one entry per injected fault, with the ``seq`` numbers it touched and, per seq, the user
and the bill fields that frame carries); ``explain`` takes a ``Reconciliation`` and those
faults and judges each finding. docs/verification.md states the rules; in short:

- a (user, field) difference is explained by a fault that touched a frame of that user
  carrying that field, when the fault is of a kind that can change a bill: corrupt,
  truncate, crash; reorder and clock_step only in a session's or database's fields (the
  order of their records decides which one a consumer bills; a moved message, agent run
  or web request bills the same whenever it comes); and wrap when the difference is a
  whole multiple of 2^32 (a 32-bit counter that went round);
- a seq missing from a store is explained by the fault that removed the frame: truncate,
  corrupt (the consumer may refuse a frame whose bytes were flipped) or crash (its ``lost``
  seqs, the frames MQ$BILLING held when the server died);
- a duplicate explains nothing: the consumer must store and bill a frame published twice
  once, so a seq stored twice, or a difference in a field the duplicated frame carries,
  stays the consumer's; such a finding names the duplicate as a fault that touched it;
- dst explains nothing (a zone and a DST flag change no amount).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError
from simulator.scenario.faults import FAULT_NAMES
from simulator.scenario.names import common_name
from simulator.verify.reconcile import Amount, FieldDifference, Reconciliation, SeqFindings
from simulator.wire import constants as c

# Kinds whose touched frames may bill their user differently from the ground truth.
_CHANGE_A_BILL: Final = frozenset({"corrupt", "truncate", "reorder", "crash", "clock_step"})
# Kinds that change only what a consumer makes of the order of a lifecycle's records.
_CHANGE_AN_ORDER: Final = frozenset({"reorder", "clock_step"})
# The fields billed from a lifecycle's latest record (END, CLOSE_END or the last STAMP).
LIFECYCLE_FIELDS: Final = frozenset({"sessions", "bytes_in", "bytes_out", "db_open_time"})
# Kinds that take a frame away from a store (crash: only the seqs it lists as lost).
_REMOVE_A_FRAME: Final = frozenset({"corrupt", "truncate"})

MISSING: Final = "missing"
STORED_TWICE: Final = "stored twice"


# -- the summary's faults ------------------------------------------------------------------


@dataclass(frozen=True)
class FaultFrame:
    """What one touched frame bills: its user (None: nobody) and the fields it carries."""

    user: str | None
    fields: Mapping[str, Amount]


@dataclass(frozen=True, eq=False)  # by identity: two events may list the same things
class Fault:
    """One injected fault event as the summary lists it. ``lost``: of a crash, the seqs
    that were still in MQ$BILLING when the server died (the others it lists are the last
    frames of sessions it cut)."""

    kind: str
    server: str
    run: str | None
    seq: tuple[int, ...]
    frames: Mapping[int, FaultFrame]
    lost: tuple[int, ...] = ()
    number: int = 0
    """Its place in the summary's list, from 1: two faults of a kind are told apart."""

    @property
    def server_name(self) -> str:
        """The server as a store names it: its common name (the topic's level)."""
        return common_name(self.server)

    def is_of(self, findings: SeqFindings) -> bool:
        """Whether this fault is of the server and run a store's seq findings are of (a
        fault listed without a run is of every run of its server)."""
        return self.server_name == findings.server and self.run in (None, findings.run)

    def removed(self, seq: int) -> bool:
        """Whether this fault took the frame ``seq`` (one it lists) away from any consumer."""
        if self.kind == "crash":
            return seq in self._lost
        return self.kind in _REMOVE_A_FRAME

    @cached_property
    def _lost(self) -> frozenset[int]:
        return frozenset(self.lost)


def read_faults(summary: Any, text: str, source: str) -> tuple[Fault, ...]:
    """The faults a run summary lists (``summary``: its parsed JSON, ``text`` the JSON, to
    name lines in errors). A domain's: its own ``faults``, else every server's. None when
    it lists none. InputError (file:line: field) for a list that breaks the contract."""
    if not isinstance(summary, dict):
        return ()
    if "faults" in summary:
        entries = [(entry, f"faults[{i}]") for i, entry in enumerate(_list(summary, text, source))]
    else:
        servers = summary.get("servers")
        entries = []
        for name, server in servers.items() if isinstance(servers, dict) else ():
            if isinstance(server, dict) and "faults" in server:
                listed = _list(server, text, source, f"servers.{name}.faults")
                entries += [
                    (entry, f"servers.{name}.faults[{i}]") for i, entry in enumerate(listed)
                ]
    return tuple(
        _fault(entry, number, where, _Where(text, source))
        for number, (entry, where) in enumerate(entries, 1)
    )


@dataclass(frozen=True)
class _Where:
    text: str
    source: str

    def error(self, message: str, field: str) -> InputError:
        """An InputError at the line of the summary's ``faults`` key (a fault entry's own
        line cannot be told from parsed JSON)."""
        at = self.text.find('"faults"')
        line = None if at < 0 else self.text.count("\n", 0, at) + 1
        return InputError(message, file=self.source, line=line, field=field)


def _list(holder: Mapping[str, Any], text: str, source: str, field: str = "faults") -> list[Any]:
    listed = holder["faults"]
    if not isinstance(listed, list):
        raise _Where(text, source).error("a list of injected faults", field)
    return listed


def _fault(entry: Any, number: int, field: str, where: _Where) -> Fault:
    if not isinstance(entry, dict):
        raise where.error("an object: one injected fault", field)
    kind = entry.get("fault")
    if kind not in FAULT_NAMES:
        raise where.error(
            f"{json.dumps(kind)} is no fault (the faults: {', '.join(FAULT_NAMES)})",
            f"{field}.fault",
        )
    server = entry.get("server")
    if not isinstance(server, str) or not server:
        raise where.error(
            "the full name of the server the fault was injected on", f"{field}.server"
        )
    run = entry.get("run")
    if run is not None and not isinstance(run, str):
        raise where.error("the run id, a string, or null", f"{field}.run")
    seq = _seqs(entry.get("seq"), f"{field}.seq", where)
    lost = _seqs(entry.get("lost", []), f"{field}.lost", where)
    frames = entry.get("frames", {})
    if not isinstance(frames, dict):
        raise where.error("an object: seq -> {user, fields}", f"{field}.frames")
    return Fault(
        kind=kind,
        server=server,
        run=run,
        seq=seq,
        frames={
            _seq_key(key, f"{field}.frames", where): _frame(value, f"{field}.frames.{key}", where)
            for key, value in frames.items()
        },
        lost=lost,
        number=number,
    )


def _seqs(value: object, field: str, where: _Where) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(_is_seq(seq) for seq in value):
        raise where.error("a list of seq numbers (whole numbers from 1)", field)
    return tuple(value)


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _seq_key(key: str, field: str, where: _Where) -> int:
    if not key.isdigit() or int(key) < 1:
        raise where.error(f"{json.dumps(key)} is no seq number", field)
    return int(key)


def _frame(value: object, field: str, where: _Where) -> FaultFrame:
    if not isinstance(value, dict):
        raise where.error('an object: {"user": …, "fields": {…}}', field)
    user = value.get("user")
    if user is not None and not isinstance(user, str):
        raise where.error("the user the frame bills, or null", f"{field}.user")
    fields = value.get("fields", {})
    if not isinstance(fields, dict):
        raise where.error("an object: bill field -> amount", f"{field}.fields")
    for name, amount in fields.items():
        if name not in BILL_FIELDS:
            raise where.error(
                f"unknown bill field (the fields: {', '.join(BILL_FIELDS)})",
                f"{field}.fields.{name}",
            )
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise where.error(f"an amount, not {json.dumps(amount)}", f"{field}.fields.{name}")
    return FaultFrame(user, dict(fields))


# -- judging the findings ------------------------------------------------------------------


@dataclass(frozen=True)
class Touch:
    """A fault's part in a finding: the fault, and those of its seq numbers that bear on it."""

    fault: Fault
    seq: tuple[int, ...]


@dataclass(frozen=True)
class DifferenceVerdict:
    """A (user, field) difference, the faults that explain it and those that touched a
    frame of that user and field without being able to explain it (a duplicate)."""

    difference: FieldDifference
    explained_by: tuple[Touch, ...] = ()
    touched_by: tuple[Touch, ...] = ()

    @property
    def explained(self) -> bool:
        return bool(self.explained_by)


@dataclass(frozen=True)
class SeqVerdict:
    """Seq numbers of one server's run that a store lacks (``MISSING``) or holds twice
    (``STORED_TWICE``), all explained by the same faults (or by none)."""

    server: str
    run: str
    finding: str
    seq: tuple[int, ...]
    explained_by: tuple[Touch, ...] = ()
    touched_by: tuple[Touch, ...] = ()

    @property
    def explained(self) -> bool:
        return bool(self.explained_by)


@dataclass(frozen=True)
class Explanation:
    """The reconciliation with each of its findings judged against the injected faults."""

    reconciliation: Reconciliation
    faults: tuple[Fault, ...]
    differences: tuple[DifferenceVerdict, ...]
    seq: tuple[SeqVerdict, ...]
    _explains: Mapping[int, Findings] = field(default_factory=dict, repr=False, compare=False)
    _touches: Mapping[int, Findings] = field(default_factory=dict, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """Exit 0: nothing differs, or every difference and seq finding is explained."""
        return all(v.explained for v in self.differences) and all(v.explained for v in self.seq)

    def explained_by(self, fault: Fault) -> Findings:
        """The differences and the seq findings ``fault`` explains."""
        return self._explains.get(fault.number, Findings())

    def touched_by(self, fault: Fault) -> Findings:
        """Those ``fault`` touched without explaining them (a duplicate's: the consumer's)."""
        return self._touches.get(fault.number, Findings())


@dataclass(frozen=True)
class Findings:
    """Some differences and seq findings (those one fault explains, or touched)."""

    differences: list[DifferenceVerdict] = field(default_factory=list)
    seq: list[SeqVerdict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.differences or self.seq)


def explain(result: Reconciliation, faults: Sequence[Fault]) -> Explanation:
    """Judge every difference and seq finding of ``result`` against ``faults``."""
    touching: dict[tuple[str, str], list[tuple[Fault, int]]] = defaultdict(list)
    for fault in faults:
        for seq, frame in sorted(fault.frames.items()):
            if frame.user is not None:
                for name in frame.fields:
                    touching[frame.user, name].append((fault, seq))
    differences = tuple(
        _judge_difference(d, touching.get((d.user, d.field), ())) for d in result.differences
    )
    seq_verdicts = tuple(v for findings in result.seq for v in _judge_seq(findings, faults))
    return Explanation(
        result,
        tuple(faults),
        differences,
        seq_verdicts,
        _by_fault(differences, seq_verdicts, lambda verdict: verdict.explained_by),
        _by_fault(differences, seq_verdicts, lambda verdict: verdict.touched_by),
    )


def _by_fault(
    differences: Iterable[DifferenceVerdict],
    seq_verdicts: Iterable[SeqVerdict],
    touches_of: Callable[[DifferenceVerdict | SeqVerdict], tuple[Touch, ...]],
) -> dict[int, Findings]:
    """The findings each fault (by number) has a part in, as ``touches_of`` says."""
    out: dict[int, Findings] = defaultdict(Findings)
    for difference in differences:
        for touch in touches_of(difference):
            out[touch.fault.number].differences.append(difference)
    for seq_verdict in seq_verdicts:
        for touch in touches_of(seq_verdict):
            out[touch.fault.number].seq.append(seq_verdict)
    return dict(out)


def _judge_difference(
    difference: FieldDifference, touches: Iterable[tuple[Fault, int]]
) -> DifferenceVerdict:
    explaining: list[tuple[Fault, int]] = []
    touched: list[tuple[Fault, int]] = []
    for fault, seq in touches:
        (explaining if _explains_difference(fault, difference) else touched).append((fault, seq))
    return DifferenceVerdict(difference, _grouped(explaining), _grouped(touched))


def _explains_difference(fault: Fault, difference: FieldDifference) -> bool:
    if fault.kind == "wrap":
        amount = difference.difference
        return isinstance(amount, int) and amount != 0 and amount % c.DWORD_WRAP == 0
    if fault.kind in _CHANGE_AN_ORDER:
        return difference.field in LIFECYCLE_FIELDS
    return fault.kind in _CHANGE_A_BILL


def _judge_seq(findings: SeqFindings, faults: Sequence[Fault]) -> list[SeqVerdict]:
    """The store's missing and twice-stored seqs of one run, grouped by what explains them
    (consecutive or not: one verdict per set of explaining and touching faults)."""
    listing: dict[int, list[Fault]] = defaultdict(list)
    for fault in faults:
        if fault.is_of(findings):
            for seq in dict.fromkeys((*fault.seq, *fault.lost)):
                listing[seq].append(fault)
    verdicts: list[SeqVerdict] = []
    for finding, numbers in ((MISSING, findings.missing), (STORED_TWICE, findings.duplicated)):
        groups: dict[tuple[tuple[Fault, ...], tuple[Fault, ...]], list[int]] = {}
        for seq in numbers:
            listed = listing.get(seq, [])
            # A frame stored twice is the consumer's, however it came twice.
            removers = tuple(f for f in listed if finding == MISSING and f.removed(seq))
            others = tuple(f for f in listed if f not in removers)
            groups.setdefault((removers, others), []).append(seq)
        for (removers, others), seqs in groups.items():
            verdicts.append(
                SeqVerdict(
                    findings.server,
                    findings.run,
                    finding,
                    tuple(seqs),
                    tuple(Touch(fault, tuple(seqs)) for fault in removers),
                    tuple(Touch(fault, tuple(seqs)) for fault in others),
                )
            )
    return verdicts


def _grouped(touches: Iterable[tuple[Fault, int]]) -> tuple[Touch, ...]:
    """One Touch per fault, its seqs in order, the faults in the summary's order."""
    by_fault: dict[int, tuple[Fault, list[int]]] = {}
    for fault, seq in touches:
        by_fault.setdefault(fault.number, (fault, []))[1].append(seq)
    return tuple(
        Touch(fault, tuple(sorted(set(seqs)))) for _, (fault, seqs) in sorted(by_fault.items())
    )
