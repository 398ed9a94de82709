"""What a check reports: a violation's and an event's line, the report's counts and verdict."""

from __future__ import annotations

from collections import Counter

from simulator.errors import EXIT_FAILED, EXIT_OK
from simulator.verify.findings import CheckReport, Event, EventKind, Rule, Violation


def test_a_violation_names_its_frame_subject_and_rule() -> None:
    violation = Violation(7, 1204, Rule.AFTER_END, "session (3,1) CN=Alice/O=Acme", "STAMP after")
    assert str(violation) == "frame 7: session (3,1) CN=Alice/O=Acme: STAMP after [after-end]"


def test_an_event_reads_as_its_kind_then_its_text() -> None:
    assert str(Event(4, EventKind.CLOCK_STEP, "at frame 4: …")) == "clock step at frame 4: …"
    assert EventKind.SERVER_RESTART.counted(1) == "1 server restart"
    assert EventKind.COUNTER_WRAP.counted(1_200) == "1,200 counter wraps"
    assert EventKind.CLOCK_STEP.noun(0) == "clock steps"


def test_the_report_counts_frames_by_type_and_sessions() -> None:
    report = CheckReport()
    assert report.ok and report.exit_code == EXIT_OK
    assert report.counts() == "0 frames, 0 sessions"
    report.frames, report.sessions = 42, 1
    report.by_type.update({"SESSIONREC": 12, "DBREC": 30})
    assert report.counts() == "42 frames (DBREC 30, SESSIONREC 12), 1 session"
    report.violations.append(Violation(1, None, Rule.NO_START, "s", "m"))
    assert not report.ok and report.exit_code == EXIT_FAILED


def test_the_report_names_events_in_kind_order_and_counts_the_unlisted() -> None:
    report = CheckReport(
        events=[Event(1, EventKind.COUNTER_WRAP, "a"), Event(2, EventKind.COUNTER_WRAP, "b")],
        event_counts=Counter({EventKind.COUNTER_WRAP: 12, EventKind.SERVER_RESTART: 1}),
    )
    assert report.named() == "1 server restart, 12 counter wraps"
    assert report.unlisted() == [(EventKind.SERVER_RESTART, 1), (EventKind.COUNTER_WRAP, 10)]
    assert CheckReport().named() == ""
