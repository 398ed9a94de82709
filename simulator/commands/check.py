"""`billsim check`: a frame stream against the lifecycle invariants, violations listed,
then what it recognised of a real server's life (restarts, counter wraps, clock steps).

The invariants depend on what the stream was written with (BillingSuppressTime, the
stamp policy, custom types): `--scenario` (and `--notes-ini`) give them as `run` used
them; without, the defaults are assumed, and a violation they could explain says so and
how to give the right ones. The layout is `run`'s `--layout`, which no scenario holds:
binary frames that read as nonsense in it but cleanly in the other get a hint saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from simulator.errors import InputError
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.scenario.notes_ini import (
    DEFAULT_SUPPRESS_MINUTES,
    IniEntry,
    read_notes_ini,
    resolve_settings,
)
from simulator.verify.checker import Checker, feed_stream
from simulator.verify.findings import CheckReport, Rule
from simulator.verify.layouts import HEAD_BYTES, likelier_layout
from simulator.verify.ticks import format_ticks
from simulator.wire.codec import FrameCodec, FrameError
from simulator.wire.layout import Layout
from simulator.wire.records import Frame, RawRec, RecordKind
from simulator.wire.stream import (
    FrameForm,
    FrameStreamError,
    detect_form,
    open_input,
    read_json_lines,
    source_name,
)

# The rules whose verdict depends on BillingSuppressTime or the stamp policy.
_SETTINGS_RULES = frozenset(
    (Rule.SUPPRESS_TIME, Rule.STAMP_BOUNDARY, Rule.DB_SUPPRESS_TIME, Rule.DB_STAMP_BOUNDARY)
)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What a stream was written with, and whether anyone said so (`given`) or it is assumed."""

    layout: Layout = Layout.LINUX_X86_64
    suppress_minutes: int = DEFAULT_SUPPRESS_MINUTES
    stamp_policy: str = "timer"
    custom_kinds: tuple[RecordKind, ...] = ()
    given: bool = False

    def describe(self, checker: Checker) -> str:
        return (
            f"{self.layout}, BillingSuppressTime {format_ticks(checker.suppress)},"
            f" {checker.stamp_policy} policy"
        )


def stream_settings(
    *,
    scenario: str | None = None,
    notes_ini: Path | None = None,
    layout: Layout = Layout.LINUX_X86_64,
    suppress_time: int | None = None,
    stamp_policy: str | None = None,
) -> StreamSettings:
    """The settings a stream was written with: the scenario's (its `notes_ini:` block, then
    `notes_ini`), overridden by the flags given; the defaults where nothing is given."""
    kinds: tuple[RecordKind, ...] = ()
    policy = "timer"
    layers: list[dict[str, IniEntry]] = [read_notes_ini(notes_ini)] if notes_ini else []
    if scenario is not None:
        loaded = load_scenario(resolve_scenario(scenario))
        minutes = loaded.settings_with(*layers).billing_suppress_time
        kinds = loaded.custom_kinds()
        policy = loaded.stamp_policy
    else:
        minutes = resolve_settings(*layers).billing_suppress_time
    given = scenario is not None or notes_ini is not None
    if suppress_time is not None:
        minutes = suppress_time  # 0: the default, as in notes.ini (the Checker knows)
        given = True
    if stamp_policy is not None:
        policy = stamp_policy
        given = True
    return StreamSettings(layout, minutes, policy, kinds, given)


def check_file(path: str, out: TextIO, settings: StreamSettings | None = None) -> CheckReport:
    """`billsim check PATH` (`-` is stdin): violations one a line on `out`, then a count,
    then the events named (server restarts, counter wraps, clock steps) one a line.

    The stream is binary frames or JSON lines (its first byte tells). A clean stream gives
    an `OK: …` line (then its events, if any). Returns the report (its `exit_code` is 0 or
    1). Raises InputError (exit code 2) for a file that cannot be opened, an empty one ("no
    frames"), or a frame that cannot be read, after writing the violations and events found
    in the frames before it. Either way, binary frames whose first frames read cleanly
    only in the other layout get a `note:` saying to try it.
    """
    settings = settings or StreamSettings()
    source = source_name(path)
    checker = Checker(suppress_time=settings.suppress_minutes, stamp_policy=settings.stamp_policy)
    codec = FrameCodec(settings.layout, custom_kinds=settings.custom_kinds)
    kept: _HeadKept | None = None  # binary frames: their start, for the layout hint
    with open_input(path) as stream:
        form, prefix = detect_form(stream, source=source)
        if form is None:
            raise InputError("no frames: the input is empty", file=source)
        try:
            if form is FrameForm.JSON:
                # An undeclared custom type is checked by its header, as in binary frames.
                for line in read_json_lines(
                    stream, codec, source=source, prefix=prefix, unknown_fields_unread=True
                ):
                    checker.feed(line.frame, None, _unreadable(codec, line.frame, line.data))
            else:
                kept = _HeadKept(stream, prefix)
                # The reader only calls read1 (or read): all a _HeadKept has.
                feed_stream(checker, cast(BinaryIO, kept), codec, source, prefix=prefix)
        except (FrameStreamError, InputError) as error:
            mid_stream = checker.sorted_report()
            _write_violations(mid_stream, out)
            _write_events(mid_stream, out)
            if isinstance(error, FrameStreamError) and kept is not None:
                _write_layout_hint(kept.head, settings, out)
            out.flush()
            raise
    report = checker.finish()
    _write_violations(report, out)
    count = len(report.violations)
    described = settings.describe(checker)
    named = f", {report.named()}" if report.event_counts else ""
    if count:
        noun = "violation" if count == 1 else "violations"
        out.write(f"{source}: {count} {noun} in {report.counts()}{named} ({described})\n")
        _write_events(report, out)
        if kept is not None and any(v.rule in _LAYOUT_RULES for v in report.violations):
            _write_layout_hint(kept.head, settings, out)
        if not settings.given and any(v.rule in _SETTINGS_RULES for v in report.violations):
            out.write(
                f"note: {described} were assumed; if the stream was written otherwise, say "
                "how: --scenario NAME|FILE (as given to run, with --notes-ini FILE if run "
                "had one), or --suppress-time MINUTES and --stamp-policy timer|activity\n"
            )
    else:
        out.write(f"OK: {source}: {report.counts()}, no violations{named} ({described})\n")
        _write_events(report, out)
    out.flush()
    return report


# Violations frames read in the wrong layout make: nonsense Actions, records that do not fit.
_LAYOUT_RULES = (Rule.BAD_ACTION, Rule.UNREADABLE_RECORD)


def _unreadable(codec: FrameCodec, frame: Frame, data: bytes) -> str | None:
    """Why a JSON line's frame cannot be read as its struct type: a cut or damaged frame,
    written as header + `rec.raw` (docs/faults.md), as its bytes would say; else None."""
    if not isinstance(frame.rec, RawRec) or not codec.is_known(frame.StructType):
        return None
    try:
        codec.decode(data)
    except FrameError as error:
        return error.message
    return None


class _HeadKept:
    """A binary stream that keeps a copy of its first HEAD_BYTES (after `prefix`, the
    bytes already read from it), for the layout hint when its frames read as nonsense."""

    def __init__(self, stream: BinaryIO, prefix: bytes) -> None:
        self._read = getattr(stream, "read1", stream.read)
        self._head = bytearray(prefix)

    def read1(self, size: int = -1) -> bytes:
        data: bytes = self._read(size)
        if len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]
        return data

    read = read1

    @property
    def head(self) -> bytes:
        return bytes(self._head)


def _write_layout_hint(head: bytes, settings: StreamSettings, out: TextIO) -> None:
    """Say so when the stream's first frames read cleanly in the other layout only."""
    other = likelier_layout(head, settings.layout, settings.custom_kinds)
    if other is not None:
        out.write(f"note: these frames look like the {other} layout: try --layout {other}\n")


def _write_violations(report: CheckReport, out: TextIO) -> None:
    write = out.write
    for violation in report.violations:
        write(f"{violation}\n")


def _write_events(report: CheckReport, out: TextIO) -> None:
    """The events named, one a line in frame order, and a count of those not listed."""
    for event in report.events:
        out.write(f"{event}\n")
    for kind, more in report.unlisted():
        out.write(f"and {more:,} more {kind.noun(more)}, not listed\n")
