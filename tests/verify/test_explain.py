"""Which injected fault explains which finding (simulator/verify/explain.py, the rules of
docs/verification.md): each fault kind with a difference it explains and one it does
not, seq numbers a store lacks or holds twice, and the summary's `faults` read to the
contract of docs/verification.md (file:line: field for what breaks it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from samples import BOB, SERVER

from simulator.domino.server import BILL_FIELDS
from simulator.errors import InputError
from simulator.verify.explain import (
    MISSING,
    STORED_TWICE,
    Explanation,
    Fault,
    FaultFrame,
    explain,
    read_faults,
)
from simulator.verify.reconcile import SeqFindings, reconcile
from simulator.wire.constants import DWORD_WRAP

ANN = "CN=Ann Lee/O=Acme"


def totals(**values: int | float) -> dict[str, int | float]:
    out: dict[str, int | float] = {name: 0 for name in BILL_FIELDS}
    out["charges"] = 0.0
    out.update(values)
    return out


TRUTH = {
    ANN: totals(sessions=1, bytes_in=1000, bytes_out=2000, mail=2, mail_bytes=8266, web=1),
    BOB: totals(sessions=1, bytes_in=400, bytes_out=950, charges=0.05, documents=1, agents=1),
}


def billed(**changes: dict[str, int | float]) -> dict[str, dict[str, int | float]]:
    """The ground truth with some users' fields changed: what a consumer billed."""
    return {user: {**values, **changes.get(_key(user), {})} for user, values in TRUTH.items()}


def _key(user: str) -> str:
    return "ann" if user == ANN else "bob"


def fault(
    kind: str, frames: Mapping[int, tuple[str | None, Mapping[str, int | float]]], **more: Any
) -> Fault:
    """A fault touching ``frames`` (seq -> the user and fields the frame carries)."""
    seq = more.pop("seq", tuple(sorted(frames)))
    return Fault(
        kind=kind,
        server=more.pop("server", SERVER),
        run=more.pop("run", "r1"),
        seq=tuple(seq),
        frames={n: FaultFrame(user, fields) for n, (user, fields) in frames.items()},
        lost=tuple(more.pop("lost", ())),
        number=more.pop("number", 1),
    )


ANN_MAIL = {17: (ANN, {"mail": 1, "mail_bytes": 4133})}


def judged(actual: dict[str, dict[str, int | float]], *faults: Fault) -> Explanation:
    return explain(reconcile(TRUTH, actual), faults)


def one_verdict(explanation: Explanation, field: str) -> Any:
    (verdict,) = [v for v in explanation.differences if v.difference.field == field]
    return verdict


# -- differences in the bill ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["corrupt", "truncate", "crash"])
def test_a_fault_explains_a_difference_of_the_user_and_field_its_frame_carries(kind: str) -> None:
    injected = fault(kind, ANN_MAIL)
    explanation = judged(billed(ann={"mail": 1, "mail_bytes": 4133}), injected)
    assert explanation.passed
    for field in ("mail", "mail_bytes"):
        (touch,) = one_verdict(explanation, field).explained_by
        assert (touch.fault, touch.seq) == (injected, (17,))
    explained = explanation.explained_by(injected)
    assert [v.difference.field for v in explained.differences] == ["mail", "mail_bytes"]
    assert explained.seq == [] and not explanation.touched_by(injected)


@pytest.mark.parametrize("kind", ["reorder", "clock_step"])
def test_an_order_fault_does_not_explain_a_message_the_consumer_lost(kind: str) -> None:
    # A MAILREC bills the same whenever it arrives: moving it cannot lose a message.
    injected = fault(kind, ANN_MAIL)
    explanation = judged(billed(ann={"mail": 1, "mail_bytes": 4133}), injected)
    assert not explanation.passed
    assert not one_verdict(explanation, "mail").explained_by
    assert [t.fault for t in one_verdict(explanation, "mail").touched_by] == [injected]


def test_a_difference_in_a_field_the_faulted_frame_does_not_carry_is_the_consumers() -> None:
    explanation = judged(billed(ann={"mail_bytes": 4133, "web": 2}), fault("corrupt", ANN_MAIL))
    assert not explanation.passed
    assert one_verdict(explanation, "mail_bytes").explained
    web = one_verdict(explanation, "web")
    assert not web.explained and web.touched_by == ()


def test_a_difference_of_another_user_than_the_faulted_frame_bills_is_the_consumers() -> None:
    explanation = judged(billed(bob={"mail": 1}), fault("truncate", ANN_MAIL))
    assert not explanation.passed
    assert not one_verdict(explanation, "mail").explained


def test_a_frame_that_bills_nobody_explains_nothing() -> None:
    nobody = fault("corrupt", {9: (None, {"mail": 1})})
    assert not judged(billed(ann={"mail": 1}), nobody).passed


def test_a_duplicate_billed_once_leaves_nothing_to_explain() -> None:
    explanation = judged(billed(), fault("duplicate", ANN_MAIL))
    assert explanation.passed and explanation.reconciliation.equal
    (duplicate,) = explanation.faults
    assert not explanation.explained_by(duplicate) and not explanation.touched_by(duplicate)


def test_a_duplicate_billed_twice_is_the_consumers_and_names_the_duplicate() -> None:
    duplicate = fault("duplicate", ANN_MAIL)
    explanation = judged(billed(ann={"mail": 3, "mail_bytes": 8266 + 4133}), duplicate)
    assert not explanation.passed
    verdict = one_verdict(explanation, "mail")
    assert not verdict.explained
    (touch,) = verdict.touched_by
    assert (touch.fault, touch.seq) == (duplicate, (17,))
    assert not explanation.explained_by(duplicate)
    touched = explanation.touched_by(duplicate).differences
    assert [v.difference.field for v in touched] == ["mail", "mail_bytes"]


def test_a_duplicate_does_not_hide_behind_another_fault_of_another_field() -> None:
    """A truncated session frame of Ann explains her bytes, not her mail billed twice."""
    session = fault("truncate", {30: (ANN, {"bytes_in": 1000})}, number=2)
    explanation = judged(
        billed(ann={"bytes_in": 0, "mail": 3}), fault("duplicate", ANN_MAIL), session
    )
    assert one_verdict(explanation, "bytes_in").explained
    assert not one_verdict(explanation, "mail").explained
    assert not explanation.passed


def test_a_counter_wrap_explains_a_difference_of_whole_multiples_of_2_to_the_32() -> None:
    wrap = fault("wrap", {40: (ANN, {"bytes_in": 1000, "bytes_out": 2000})})
    explanation = judged(billed(ann={"bytes_in": 1000 + 2 * DWORD_WRAP, "bytes_out": 2001}), wrap)
    assert one_verdict(explanation, "bytes_in").explained
    bytes_out = one_verdict(explanation, "bytes_out")
    assert not bytes_out.explained and bytes_out.touched_by[0].fault is wrap
    assert not explanation.passed


def test_dst_explains_nothing() -> None:
    dst = fault("dst", {}, seq=())
    assert not judged(billed(ann={"sessions": 2}), dst).passed


def test_a_crash_explains_the_sessions_it_cut_billed_from_their_last_record() -> None:
    """After a crash the ground truth has no END for Bob's session; a consumer bills it
    from its last STAMP (+1 session and its bytes): the crash lists that STAMP's seq."""
    crash = fault(
        "crash",
        {50: (BOB, {"sessions": 1, "bytes_in": 300, "bytes_out": 700})},
        seq=(50, 51),
        lost=(51,),
    )
    explanation = judged(billed(bob={"sessions": 2, "bytes_in": 700, "bytes_out": 1650}), crash)
    assert explanation.passed
    assert all(v.explained_by[0].seq == (50,) for v in explanation.differences)


def test_the_seqs_named_are_those_of_the_user_and_field_only() -> None:
    reorder = fault(
        "reorder",
        {51: (ANN, {"bytes_in": 10}), 52: (BOB, {"bytes_in": 5}), 53: (ANN, {"bytes_in": 20})},
    )
    explanation = judged(billed(ann={"bytes_in": 990}), reorder)
    assert one_verdict(explanation, "bytes_in").explained_by[0].seq == (51, 53)


def test_a_user_only_the_consumer_bills_is_explained_by_a_fault_touching_it() -> None:
    carol = "CN=Carol Diaz/O=Acme"
    crash = fault("crash", {60: (carol, {"sessions": 1, "bytes_in": 5})})
    actual = {**billed(), carol: totals(sessions=1, bytes_in=5)}
    explanation = judged(actual, crash)
    assert explanation.reconciliation.missing_from_expected == (carol,)
    assert explanation.passed


def test_without_faults_passing_is_being_equal() -> None:
    assert judged(billed()).passed
    assert not judged(billed(ann={"web": 0})).passed


# -- seq numbers a store lacks or holds twice ----------------------------------------------


def seq_judged(
    missing: tuple[int, ...], duplicated: tuple[int, ...], *faults: Fault
) -> Explanation:
    findings = SeqFindings("Mail01", "r1", missing, duplicated)
    return explain(reconcile(TRUTH, billed(), [findings]), faults)


def test_a_missing_seq_no_fault_touched_is_the_consumers_and_named() -> None:
    explanation = seq_judged((17, 88), (), fault("truncate", ANN_MAIL))
    assert not explanation.passed
    unexplained = [v for v in explanation.seq if not v.explained]
    assert [(v.finding, v.seq, v.touched_by) for v in unexplained] == [(MISSING, (88,), ())]
    (explained,) = [v for v in explanation.seq if v.explained]
    assert explained.seq == (17,) and explained.explained_by[0].seq == (17,)


@pytest.mark.parametrize("kind", ["truncate", "corrupt"])
def test_a_seq_a_frame_fault_took_away_is_explained(kind: str) -> None:
    explanation = seq_judged((17,), (), fault(kind, ANN_MAIL))
    assert explanation.passed
    (verdict,) = explanation.seq
    assert (verdict.server, verdict.run, verdict.finding) == ("Mail01", "r1", MISSING)


def test_a_crash_explains_the_seqs_it_lost_not_the_last_frames_of_the_sessions_it_cut() -> None:
    crash = fault("crash", {}, seq=(30, 40, 41), lost=(40, 41))
    explanation = seq_judged((30, 40, 41), (), crash)
    assert not explanation.passed
    by_seq = {v.seq: v for v in explanation.seq}
    assert by_seq[40, 41].explained and by_seq[40, 41].explained_by[0].seq == (40, 41)
    assert not by_seq[30,].explained and by_seq[30,].touched_by[0].fault is crash


@pytest.mark.parametrize("kind", ["reorder", "duplicate", "clock_step", "wrap"])
def test_a_fault_that_takes_no_frame_away_explains_no_missing_seq(kind: str) -> None:
    explanation = seq_judged((17,), (), fault(kind, ANN_MAIL))
    assert not explanation.passed
    (verdict,) = explanation.seq
    assert not verdict.explained and verdict.touched_by[0].seq == (17,)


def test_a_seq_stored_twice_is_the_consumers_even_when_published_twice() -> None:
    duplicate = fault("duplicate", ANN_MAIL)
    explanation = seq_judged((), (17,), duplicate)
    assert not explanation.passed
    (verdict,) = explanation.seq
    assert verdict.finding == STORED_TWICE and not verdict.explained
    assert verdict.touched_by[0].fault is duplicate


def test_a_fault_of_another_server_or_run_explains_no_seq_of_this_one() -> None:
    elsewhere = fault("truncate", ANN_MAIL, server="CN=Mail02/O=Acme")
    other_run = fault("truncate", ANN_MAIL, run="r2", number=2)
    assert not seq_judged((17,), (), elsewhere, other_run).passed
    any_run = fault("truncate", ANN_MAIL, run=None)
    assert seq_judged((17,), (), any_run).passed


# -- reading the summary's faults ----------------------------------------------------------

ENTRY = {
    "fault": "truncate",
    "server": SERVER,
    "run": "r1",
    "seq": [17],
    "frames": {"17": {"user": ANN, "fields": {"mail": 1, "mail_bytes": 4133}}},
}


def read(summary: dict[str, Any]) -> tuple[Fault, ...]:
    text = json.dumps(summary, indent=2)
    return read_faults(json.loads(text), text, "s.json")


def test_faults_are_read_as_the_summary_lists_them() -> None:
    crash = {**ENTRY, "fault": "crash", "seq": [20, 21], "lost": [21], "at": "x", "frames": {}}
    first, second = read({"users": {}, "faults": [ENTRY, crash]})
    assert (first.kind, first.server_name, first.run, first.seq, first.number) == (
        "truncate",
        "Mail01",
        "r1",
        (17,),
        1,
    )
    assert first.frames == {17: FaultFrame(ANN, {"mail": 1, "mail_bytes": 4133})}
    assert (second.kind, second.lost, second.number) == ("crash", (21,), 2)
    assert read({"users": {}}) == () and read_faults([], "[]", "s.json") == ()


def test_a_domains_faults_are_its_own_list_else_every_servers() -> None:
    mail02 = {**ENTRY, "server": "CN=Mail02/O=Acme"}
    servers = {SERVER: {"faults": [ENTRY]}, "CN=Mail02/O=Acme": {"faults": [mail02]}}
    gathered = read({"users": {}, "servers": servers})
    assert [(f.server_name, f.number) for f in gathered] == [("Mail01", 1), ("Mail02", 2)]
    merged = read({"users": {}, "faults": [ENTRY, mail02], "servers": servers})
    assert len(merged) == 2  # the merged list, not it and the servers' again


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"fault": "flood"}, "faults[0].fault", '"flood" is no fault'),
        ({"server": None}, "faults[0].server", "the full name of the server"),
        ({"run": 5}, "faults[0].run", "the run id"),
        ({"seq": [0]}, "faults[0].seq", "a list of seq numbers"),
        ({"seq": "17"}, "faults[0].seq", "a list of seq numbers"),
        ({"lost": [True]}, "faults[0].lost", "a list of seq numbers"),
        ({"frames": {"x": {}}}, "faults[0].frames", '"x" is no seq number'),
        ({"frames": {"1": {"user": 3}}}, "faults[0].frames.1.user", "the user the frame bills"),
        ({"frames": {"1": {"fields": {"gold": 1}}}}, "faults[0].frames.1.fields.gold", "unknown"),
        (
            {"frames": {"1": {"fields": {"mail": "1"}}}},
            "faults[0].frames.1.fields.mail",
            "an amount",
        ),
    ],
)
def test_a_fault_that_breaks_the_contract_is_bad_input(
    change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        read({"users": {}, "faults": [{**ENTRY, **change}]})
    error = caught.value
    assert (error.file, error.line, error.field) == ("s.json", 3, field)
    assert error.message.startswith(message)


def test_faults_that_are_not_a_list_are_bad_input() -> None:
    with pytest.raises(InputError, match="a list of injected faults"):
        read({"users": {}, "faults": {"fault": "duplicate"}})
    with pytest.raises(InputError) as caught:
        read({"users": {}, "faults": ["duplicate"]})
    assert caught.value.field == "faults[0]"
