"""`billsim check`: a frame stream against the lifecycle invariants, violations listed."""

from __future__ import annotations

from typing import TextIO

from simulator.scenario.notes_ini import DEFAULT_SUPPRESS_MINUTES
from simulator.verify.checker import Checker, CheckReport, feed_stream, format_ticks
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout
from simulator.wire.stream import FrameStreamError, open_input, source_name


def check_file(
    path: str,
    out: TextIO,
    *,
    layout: Layout = Layout.LINUX_X86_64,
    suppress_time: int = DEFAULT_SUPPRESS_MINUTES,
    stamp_policy: str = "timer",
) -> CheckReport:
    """`billsim check PATH` (`-` is stdin): violations one a line on `out`, then a count.

    A clean stream gives one `OK: …` line. Returns the report (its `exit_code` is 0 or
    1). Raises InputError (exit code 2) for a file that cannot be opened or a frame that
    cannot be read, after writing the violations found in the frames before it.
    """
    source = source_name(path)
    checker = Checker(suppress_time=suppress_time, stamp_policy=stamp_policy)
    settings = (
        f"{layout}, BillingSuppressTime {format_ticks(checker.suppress)},"
        f" {checker.stamp_policy} policy"
    )
    with open_input(path) as stream:
        try:
            feed_stream(checker, stream, FrameCodec(layout), source)
        except FrameStreamError:
            _write_violations(checker.sorted_report(), out)
            out.flush()
            raise
    report = checker.finish()
    _write_violations(report, out)
    count = len(report.violations)
    if count:
        noun = "violation" if count == 1 else "violations"
        out.write(f"{source}: {count} {noun} in {report.counts()} ({settings})\n")
    else:
        out.write(f"OK: {source}: {report.counts()}, no violations ({settings})\n")
    out.flush()
    return report


def _write_violations(report: CheckReport, out: TextIO) -> None:
    write = out.write
    for violation in report.violations:
        write(f"{violation}\n")
