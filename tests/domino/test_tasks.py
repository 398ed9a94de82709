"""The server tasks of docs/lifecycles.md ("Server tasks", Order) and docs/scenario.md: mail,
replicate, agent, http, custom. Expected values are worked out from those rules here, not
taken from a run.

Each scenario below is a header (`HEAD`) plus a script; times in comments are from the
scenario's start, 2026-11-21T09:00:00Z.
"""

from __future__ import annotations

import inspect
import io
import json
import locale
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import get_args

import pytest
from paths import GOLDEN_TRACES
from samples import ALICE, BOB, HUB, JDN, ORDERS_REPLICA, REPLICA, SERVER

from simulator.commands.run import RunRequest, run
from simulator.commands.summary import build_summary
from simulator.commands.validate import validate
from simulator.domino.server import derive_timedate
from simulator.domino.simulation import RunOptions, Simulation
from simulator.domino.tasks import common_log_time, mail_originator_id, replication_endpoints
from simulator.scenario.loader import load_scenario_text
from simulator.scenario.models import MailAction
from simulator.wire import constants as c
from simulator.wire import timedate
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Layout
from simulator.wire.records import (
    AgentRec,
    CustomRec,
    Frame,
    HttpReqRec,
    MailRec,
    Oid,
    ReplRec,
    SessionID,
    SessionRec,
    Unid,
)
from simulator.wire.text import frame_line
from simulator.wire.timedate import TimeDate

NAMES = TimeDate(0x0052C100, 0x85258A3B)
ALL_CLASSES = "Session,Database,Document,Mail,Replication,Agent,HttpRequest"


def head(billing_class: str = ALL_CLASSES, extra: str = "") -> str:
    return f"""\
name: t
seed: 7
start: "2026-11-21T09:00:00Z"
duration: 60m
server: {SERVER}
notes_ini: {{BillingClass: "{billing_class}"}}
{extra}databases:
  mail/alice.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/orders.nsf: {{replica_id: "85258A3B:0052C1F1"}}
  names.nsf: {{replica_id: "85258A3B:0052C100"}}
  archive/: {{}}
users:
  alice: {{name: "{ALICE}", address: "10.1.2.3"}}
  bob: {{name: "{BOB}", address: "10.1.2.4"}}
custom_types:
  NOTECREATEREC: {{struct_type: 32001, class: Database,
                  fields: [[Username, "char[257]"], [dbNoteID, NOTEID], [ReplicaID, DBID]]}}
script:
"""


def stamp(minutes: int, hundredths: int = 0) -> TimeDate:
    """The TIMEDATE `minutes` (plus hundredths) after 09:00:00.00 on 2026-11-21."""
    return TimeDate((9 * 3600 + minutes * 60) * 100 + hundredths, JDN)


def simulate(text: str, *, seed: int | None = None) -> tuple[Simulation, list[Frame]]:
    """Every frame of a run (stepped, no queue), decoded, and the simulation after it."""
    scenario = load_scenario_text(text, "t.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(seed=seed))
    raw: list[bytes] = []
    sim.writer.put = lambda item: raw.append(item[1])
    while sim.step():
        pass
    return sim, [sim.codec.decode(data) for data in raw]


def records(frames: list[Frame], kind: type) -> list[Frame]:
    return [frame for frame in frames if isinstance(frame.rec, kind)]


# --- mail -----------------------------------------------------------------------------------


def test_mail_leaves_the_mailbox_after_its_delay() -> None:
    _, frames = simulate(
        head() + "  - {at: 10m, action: mail, from: alice, to: [bob, 'CN=Carol Diaz/O=Acme'],"
        " size: 48213, form: Memo, priority: high, report: confirm, next_hop: CN=Hub01/O=Acme,"
        " delay: 90s}\n"
    )
    [frame] = frames
    assert (frame.StructType, frame.Class) == (c.BILL_MAILREC, c.BILL_CLASS_MAIL)
    assert frame.TimeStamp == stamp(11, 3000)  # 10m + 90 s
    rec = frame.rec
    assert isinstance(rec, MailRec)
    posted = stamp(10)
    assert rec == MailRec(
        "Memo",
        Oid(
            derive_timedate(7, "mail-file", "script[0]"),
            derive_timedate(7, "mail-note", "script[0]"),
            1,
            posted,
        ),
        Unid(TimeDate(0, 0), TimeDate(0, 0)),
        48213,
        HUB,
        2,  # high
        0,  # pending
        2,  # confirm
        ALICE,  # `from: alice` resolved
        2,
        posted,
        (BOB, "CN=Carol Diaz/O=Acme"),  # `bob` resolved, the other as written
    )
    assert frame.Len == 280 + 716 + len(f"{BOB},CN=Carol Diaz/O=Acme")


def test_mail_defaults_local_delivery_and_the_encodings() -> None:
    _, frames = simulate(
        head()
        + "  - {at: 5m, action: mail, from: 'CN=Dave Lee/O=Partner', to: [alice]}\n"
        + "  - {at: 6m, action: mail, from: bob, to: [alice], priority: low, report: trace,"
        " routing_state: dead}\n"
        + "  - {at: 7m, action: mail, from: bob, to: [alice], report: basic, routing_state: hold}\n"
    )
    recs = [frame.rec for frame in frames]
    assert all(isinstance(rec, MailRec) for rec in recs)
    first, second, third = (rec for rec in recs if isinstance(rec, MailRec))
    # No next_hop: delivered here, HopName is this server; no delay: routed at `at`.
    assert frames[0].TimeStamp == stamp(5)
    assert (first.HopName, first.FormType, first.MessageSize) == (SERVER, "Memo", 0)
    assert (first.Priority, first.Report, first.RoutingState) == (1, 0, 0)
    assert first.Originator == "CN=Dave Lee/O=Partner"
    assert (second.Priority, second.Report, second.RoutingState) == (0, 3, 1)
    assert (third.Priority, third.Report, third.RoutingState) == (1, 1, 2)
    assert c.MAIL_PRIORITY == {"low": 0, "normal": 1, "high": 2}
    # DELIVERY_REPORT_* of the C API's mailserv.h.
    assert c.MAIL_REPORT == {
        "none": 0,
        "basic": 1,
        "confirm": 2,
        "trace": 3,
        "trace-no-deliver": 4,
        "confirm-no-deliver": 5,
    }
    assert c.MAIL_ROUTING_STATE == {"pending": 0, "dead": 1, "hold": 2}


@pytest.mark.parametrize(("report", "value"), list(c.MAIL_REPORT.items()))
def test_every_delivery_report_of_the_c_api_is_a_scenario_name(report: str, value: int) -> None:
    """The six DELIVERY_REPORT_* values, named in a scenario, written as the C API's
    numbers and shown back by name in the text form."""
    _, frames = simulate(
        head() + f"  - {{at: 5m, action: mail, from: bob, to: [alice], report: {report}}}\n"
    )
    (mail,) = records(frames, MailRec)
    assert isinstance(mail.rec, MailRec) and mail.rec.Report == value
    codec = FrameCodec(Layout.LINUX_X86_64)
    line = frame_line(JsonDecoder(codec)(codec.encode(mail), 0, None))
    assert f"report {report}  " in line


def test_the_scenario_takes_exactly_the_report_names_of_the_constants() -> None:
    annotation = MailAction.model_fields["report"].annotation
    assert set(get_args(annotation)) == set(c.MAIL_REPORT)


def test_originator_ids_are_unique_per_message_and_fixed_by_the_seed() -> None:
    script = "".join(
        f"  - {{at: {minute}m, action: mail, from: alice, to: [bob]}}\n" for minute in range(20)
    )
    _, frames = simulate(head() + script)
    _, again = simulate(head() + script)
    _, reseeded = simulate(head() + script, seed=8)
    ids = [f.rec.OriginatorID for f in frames if isinstance(f.rec, MailRec)]
    assert len(ids) == 20
    assert len({(oid.File, oid.Note) for oid in ids}) == 20
    assert ids == [f.rec.OriginatorID for f in again if isinstance(f.rec, MailRec)]
    other = [f.rec.OriginatorID for f in reseeded if isinstance(f.rec, MailRec)]
    assert all(a.File != b.File and a.Note != b.Note for a, b in zip(ids, other, strict=True))
    # A function of each message's place in the file (its identity), not of the order the
    # router handles them in: reversed, the ids follow the lines they are on.
    reordered = head() + "".join(reversed(script.splitlines(keepends=True)))
    _, backwards = simulate(reordered)
    by_minute = {
        f.rec.PostedDate: f.rec.OriginatorID for f in backwards if isinstance(f.rec, MailRec)
    }
    for index, oid in enumerate(ids):
        # Reversed, the message posted at minute m is script[19 - m].
        expected = mail_originator_id(7, f"script[{19 - index}]", stamp(index))
        assert by_minute[stamp(index)] == expected
        assert (oid.Sequence, oid.SequenceTime) == (1, stamp(index))


def test_mail_is_counted_per_originator_when_written() -> None:
    text = (
        "  - {at: 1m, action: mail, from: alice, to: [bob]}\n"
        "  - {at: 2m, action: mail, from: alice, to: [bob, 'x@example.com']}\n"
        "  - {at: 3m, action: mail, from: 'CN=Dave Lee/O=Partner', to: [alice]}\n"
    )
    sim, _ = simulate(head() + text)
    ledger = sim.server.ledger
    assert (ledger.get(ALICE) or {})["mail"] == 2
    assert (ledger.get("CN=Dave Lee/O=Partner") or {})["mail"] == 1
    assert ledger.get(BOB) is None  # recipients are not billed
    # Mail off: the router still routes, nothing is written, nothing is counted.
    sim, frames = simulate(head("Session,Agent") + text)
    assert frames == []
    assert sim.server.ledger.get(ALICE) is None
    assert sim.tasks.completed == 3


# --- replication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "source", "destination"),
    [
        ("pull", HUB, SERVER),
        ("push", SERVER, HUB),
        ("pull-push", SERVER, HUB),
        ("pull-pull", SERVER, HUB),
        (None, SERVER, HUB),  # the default: pull-push
    ],
)
def test_replication_direction(direction: str | None, source: str, destination: str) -> None:
    spec = f", direction: {direction}" if direction else ""
    _, frames = simulate(
        head() + f"  - {{at: 5m, action: replicate, with: {HUB}{spec}, duration: 2m,"
        " databases: [{db: apps/orders.nsf, bytes_in: 90000, bytes_out: 1200}]}\n"
    )
    [frame] = frames
    assert frame.TimeStamp == stamp(7)
    assert frame.rec == ReplRec(
        SessionID(1, 1), 90000, 1200, ORDERS_REPLICA, source, destination, 1
    )
    assert replication_endpoints(direction or "pull-push", SERVER, HUB) == (source, destination)


def test_replrecs_follow_the_databases_list_at_the_end() -> None:
    _, frames = simulate(
        head() + "  - {at: 0m, action: replicate, with: alice, priority: high, duration: 90s,"
        " databases: [{db: names.nsf, bytes_in: 1, bytes_out: 2}, {db: apps/orders.nsf},"
        " {db: mail/alice.nsf, bytes_in: 4294967295}]}\n"
        "  - {at: 0m, action: replicate, with: alice, priority: low,"
        " databases: [{db: apps/orders.nsf}]}\n"
    )
    # The zero-length one ends at once (0m); the other at 1m30s, its three in list order.
    assert [(f.TimeStamp, f.rec.ReplicaID, f.rec.Priority) for f in frames] == [  # type: ignore[union-attr]
        (stamp(0), ORDERS_REPLICA, 0),
        (stamp(1, 3000), NAMES, 2),
        (stamp(1, 3000), ORDERS_REPLICA, 2),
        (stamp(1, 3000), REPLICA, 2),
    ]
    assert [(f.rec.BytesIn, f.rec.BytesOut) for f in frames] == [  # type: ignore[union-attr]
        (0, 0),
        (1, 2),
        (0, 0),
        (4294967295, 0),
    ]
    # `with: alice` means that user's full name (docs/scenario.md Names).
    assert {f.rec.Destination for f in frames} == {ALICE}  # type: ignore[union-attr]
    # Both held a slot at once: the first has slot 1, the second slot 2.
    assert [f.rec.SessionID for f in frames] == [  # type: ignore[union-attr]
        SessionID(2, 1),
        SessionID(1, 1),
        SessionID(1, 1),
        SessionID(1, 1),
    ]


def test_replication_holds_a_sessionid_slot_while_it_runs() -> None:
    _, frames = simulate(
        head() + "  - {at: 0m, action: replicate, with: CN=Hub01/O=Acme, duration: 10m,"
        " databases: [{db: names.nsf}]}\n"
        # While it runs: the next slot.
        "  - {at: 1m, user: alice, action: transfer}\n"
        # At its end instant the script runs before the completion: slot 1 is still held.
        "  - {at: 10m, user: bob, action: transfer}\n"
        "  - {at: 11m, user: alice, action: logout}\n"
        # After it: slot 1 again, its second use.
        "  - {at: 12m, user: alice, action: transfer}\n"
    )
    starts = [
        (f.rec.Username, f.rec.SessionID)
        for f in records(frames, SessionRec)
        if isinstance(f.rec, SessionRec) and f.rec.Action == c.BILL_SESSION_START
    ]
    assert starts == [(ALICE, SessionID(2, 1)), (BOB, SessionID(3, 1)), (ALICE, SessionID(1, 2))]
    [repl] = records(frames, ReplRec)
    assert repl.rec.SessionID == SessionID(1, 1)  # type: ignore[union-attr]


def test_a_replication_with_its_class_off_still_holds_its_slot() -> None:
    _, frames = simulate(
        head("Session")
        + "  - {at: 0m, action: replicate, with: h, duration: 10m, databases: [{db: names.nsf}]}\n"
        "  - {at: 1m, user: alice, action: transfer}\n"
    )
    assert records(frames, ReplRec) == []
    assert frames[0].rec.SessionID == SessionID(2, 1)  # type: ignore[union-attr]


# --- agents ---------------------------------------------------------------------------------


def test_agent_run_ends_with_its_record() -> None:
    sim, frames = simulate(
        head()
        + "  - {at: 45m, action: agent, db: apps/orders.nsf, agent: Nightly cleanup, signer: bob,"
        " elapsed: 3.5s, flags: [public, mail]}\n"
        "  - {at: 46m, action: agent, db: mail/alice.nsf, agent: Nightly cleanup,"
        " signer: 'CN=Server Admin/O=Acme', task: Agent Manager, flags: [warnings]}\n"
    )
    first, second = frames
    assert (first.StructType, first.Class) == (c.BILL_AGENTREC, c.BILL_CLASS_AGENT)
    assert first.TimeStamp == stamp(45, 350)
    assert first.rec == AgentRec(350, 0x4 | 0x2, BOB, "AMgr", "apps/orders.nsf")
    assert second.TimeStamp == stamp(46)
    assert second.rec == AgentRec(
        0, 0x1, "CN=Server Admin/O=Acme", "Agent Manager", "mail/alice.nsf"
    )
    # The agent's own name is in no record, only in the run's counts (for logs and summary).
    assert sim.tasks.agent_runs == {"Nightly cleanup": 2}
    assert (sim.server.ledger.get(BOB) or {})["agents"] == 1
    assert (sim.server.ledger.get("CN=Server Admin/O=Acme") or {})["agents"] == 1


@pytest.mark.parametrize(
    ("at", "elapsed", "hundredths"),
    [
        ("9ms", "2ms", 1),  # 0.2 hundredths elapsed, but a tick boundary lies between
        ("1ms", "8ms", 0),  # 0.8 hundredths, within one tick
        ("0", "3.575s", 357),  # not 3.575 s rounded (358)
        ("5ms", "3.575s", 358),  # 3.580 s truncated - 0.005 s truncated
        ("0", "59m", 354000),
    ],
)
def test_elapsed_run_time_is_a_difference_of_ticks(at: str, elapsed: str, hundredths: int) -> None:
    _, [frame] = simulate(
        head() + f"  - {{at: {at}, action: agent, db: names.nsf, agent: A, signer: alice,"
        f" elapsed: {elapsed}}}\n"
    )
    assert frame.rec.ElapsedRunTime == hundredths  # type: ignore[union-attr]


# --- web requests ---------------------------------------------------------------------------


def test_http_request_record() -> None:
    sim, frames = simulate(
        head(extra="server_address: 192.0.2.1\n")
        + "  - {at: 50m, action: http, user: alice, address: 10.1.2.9,"
        " request: 'GET /apps/orders.nsf/byDate?OpenView HTTP/1.1', status: 200, bytes: 5120,"
        " time_ms: 1035, user_agent: Mozilla/5.0, content_type: text/html,"
        " referer: 'http://intranet/'}\n"
        "  - {at: 51m, action: http, address: 198.51.100.7, request: 'GET / HTTP/1.0',"
        " status: 404}\n"
        "  - {at: 52m, action: http, user: 'CN=Web Guest/O=Partner', address: 198.51.100.8,"
        " request: 'POST /x HTTP/1.1'}\n"
    )
    first, anonymous, named = frames
    assert (first.StructType, first.Class) == (c.BILL_HTTPREQREC, c.BILL_CLASS_HTTPREQUEST)
    assert first.TimeStamp == stamp(50, 103)  # 1.035 s later, truncated to hundredths
    assert first.rec == HttpReqRec(
        5120,
        1035,
        200,
        "21/Nov/2026:09:50:00 +0000",  # `at`, not the end
        ALICE,
        "10.1.2.9",
        "http://intranet/",
        "192.0.2.1",
        "Mozilla/5.0",
        "GET /apps/orders.nsf/byDate?OpenView HTTP/1.1",
        "text/html",
    )
    assert anonymous.TimeStamp == stamp(51)
    assert anonymous.rec == HttpReqRec(
        0, 0, 404, "21/Nov/2026:09:51:00 +0000", None, "198.51.100.7", None, "192.0.2.1",
        None, "GET / HTTP/1.0", None,
    )  # fmt: skip
    assert named.rec.AuthUser == "CN=Web Guest/O=Partner"  # type: ignore[union-attr]
    assert (sim.server.ledger.get(ALICE) or {})["web"] == 1
    assert (sim.server.ledger.get("CN=Web Guest/O=Partner") or {})["web"] == 1
    assert (sim.server.ledger.get("Anonymous") or {})["web"] == 1  # no AuthUser
    assert len(sim.server.ledger) == 3


def test_server_address_defaults_to_loopback() -> None:
    _, [frame] = simulate(head() + "  - {at: 1m, action: http, address: a, request: r}\n")
    assert frame.rec.ServerAddr == "127.0.0.1"  # type: ignore[union-attr]


@pytest.fixture
def foreign_time_locale() -> Iterator[str | None]:
    """A non-English LC_TIME if the system has one (None if not), restored afterwards."""
    saved = locale.setlocale(locale.LC_TIME)
    chosen = None
    for name in ("de_DE.UTF-8", "fr_FR.UTF-8", "es_ES.UTF-8", "ru_RU.UTF-8", "de_DE", "fr_FR"):
        try:
            locale.setlocale(locale.LC_TIME, name)
        except locale.Error:
            continue
        chosen = name
        break
    try:
        yield chosen
    finally:
        locale.setlocale(locale.LC_TIME, saved)


def test_http_time_stamp_months_are_english_whatever_the_locale(
    foreign_time_locale: str | None,
) -> None:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    for month, name in enumerate(months, start=1):
        moment = datetime(2026, month, 3, 7, 8, 9, 999_999, tzinfo=UTC)
        assert common_log_time(moment) == f"03/{name}/2026:07:08:09 +0000"
    if foreign_time_locale is not None:
        # The locale really is foreign: strftime would not say "Oct" (de, fr, es, ru: no).
        assert datetime(2026, 10, 3).strftime("%b") != "Oct"
    # By construction too: month names come from a fixed table, never from strftime.
    assert "strftime" not in inspect.getsource(common_log_time)
    assert months == timedate.ENGLISH_MONTHS


def test_common_log_time_is_gmt() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    assert common_log_time(datetime(2026, 1, 1, 2, 0, tzinfo=east)) == "31/Dec/2025:20:30:00 +0000"


# --- custom records -------------------------------------------------------------------------


def test_custom_record_is_written_at_once_in_script_order() -> None:
    _, frames = simulate(
        head() + "  - {at: 2m, action: custom, type: NOTECREATEREC,"
        " values: {Username: 'CN=Alice Smith/O=Acme', dbNoteID: 0x20FA,"
        " ReplicaID: '85258A3B:0052C1F1'}}\n"
        "  - {at: 2m, user: alice, action: transfer}\n"
        "  - {at: 3m, action: mail, from: alice, to: [bob]}\n"
        "  - {at: 3m, action: custom, type: NOTECREATEREC,"
        " values: {ReplicaID: '85258A3B:0052C1F1', dbNoteID: 4294967295, Username: ''}}\n"
    )
    assert [(f.StructType, f.TimeStamp) for f in frames] == [
        (32001, stamp(2)),  # before the session action after it in the file
        (c.BILL_SESSIONREC, stamp(2)),
        (32001, stamp(3)),  # a script action: before the mail completing at the same instant
        (c.BILL_MAILREC, stamp(3)),
        (c.BILL_SESSIONREC, stamp(60)),
    ]
    assert frames[0].Class == c.BILL_CLASS_DATABASE
    assert frames[0].rec == CustomRec((ALICE, 0x20FA, ORDERS_REPLICA))
    # The values in the struct's order.
    assert frames[2].rec == CustomRec(("", 0xFFFFFFFF, ORDERS_REPLICA))


def test_custom_record_is_filtered_by_its_declared_class() -> None:
    text = (
        "  - {at: 2m, action: custom, type: NOTECREATEREC,"
        " values: {Username: u, dbNoteID: 1, ReplicaID: '85258A3B:0052C1F1'}}\n"
    )
    _, frames = simulate(head("Session,Mail") + text)
    assert frames == []
    _, frames = simulate(head("Database") + text)
    assert [f.StructType for f in frames] == [32001]


# --- shutdown, class filtering, order ---------------------------------------------------------


def test_tasks_running_at_shutdown_are_abandoned_and_counted() -> None:
    sim, frames = simulate(
        head() + "  - {at: 1m, user: alice, action: transfer}\n"
        # Ends exactly at the shutdown instant: runs, before the sessions end.
        "  - {at: 55m, action: agent, db: names.nsf, agent: A, signer: alice, elapsed: 5m}\n"
        # Each still running at 60m: abandoned, no record.
        "  - {at: 50m, action: agent, db: names.nsf, agent: B, signer: alice, elapsed: 601s}\n"
        "  - {at: 59m, action: mail, from: alice, to: [bob], delay: 2m}\n"
        "  - {at: 59m, action: http, address: a, request: r, time_ms: 60001}\n"
        "  - {at: 58m, action: replicate, with: h, duration: 3m,"
        " databases: [{db: names.nsf}, {db: apps/orders.nsf}]}\n"
    )
    assert [(f.StructType, f.TimeStamp) for f in frames] == [
        (c.BILL_SESSIONREC, stamp(1)),
        (c.BILL_AGENTREC, stamp(60)),
        (c.BILL_SESSIONREC, stamp(60)),  # END after the completion at the same instant
    ]
    assert sim.abandoned_tasks == 4  # a replication is one task, however many databases
    assert sim.tasks.started == 5
    assert sim.tasks.completed == 1
    summary = build_summary(sim)
    assert summary["abandoned_tasks"] == 4
    assert summary["agent_runs"] == {"A": 1}  # B never finished
    assert sim.tasks.agent_runs == {"A": 1}


def test_summary_json_of_a_run_counts_abandoned_tasks(tmp_path: Path) -> None:
    scenario = tmp_path / "t.yaml"
    scenario.write_text(
        head() + "  - {at: 59m, action: agent, db: names.nsf, agent: B, signer: a, elapsed: 2m}\n"
    )
    summary_path = tmp_path / "summary.json"
    stdout = io.StringIO()
    request = RunRequest(scenario=str(scenario), stdout=True, summary_path=summary_path)
    assert run(request, stdout=stdout, stderr=io.StringIO()) == 0
    assert stdout.getvalue() == ""
    assert json.loads(summary_path.read_text())["abandoned_tasks"] == 1


def test_tasks_run_whatever_billing_class_is_on() -> None:
    script = (
        "  - {at: 0m, action: replicate, with: h, duration: 1m, databases: [{db: names.nsf}]}\n"
        "  - {at: 0m, action: mail, from: alice, to: [bob], delay: 1m}\n"
        "  - {at: 0m, action: agent, db: names.nsf, agent: A, signer: alice, elapsed: 1m}\n"
        "  - {at: 0m, action: http, user: bob, address: a, request: r, time_ms: 60000}\n"
    )
    everything, all_frames = simulate(head() + script)
    only_sessions, frames = simulate(head("Session") + script)
    assert frames == []
    assert len(all_frames) == 4
    for sim in (everything, only_sessions):
        assert (sim.tasks.started, sim.tasks.completed, sim.abandoned_tasks) == (4, 4, 0)
        assert sim.tasks.agent_runs == {"A": 1}
    # Per-user totals count records written, so with the classes off there are none.
    assert len(only_sessions.server.ledger) == 0
    assert (everything.server.ledger.get(ALICE) or {})["mail"] == 1
    assert (everything.server.ledger.get(ALICE) or {})["agents"] == 1
    assert (everything.server.ledger.get(BOB) or {})["web"] == 1


def test_completions_at_an_instant_run_in_the_order_scheduled() -> None:
    # All end at 10m: scheduled at 5m (agent), 6m (http), 8m (mail), 9m (replication).
    _, frames = simulate(
        head()
        + "  - {at: 9m, action: replicate, with: h, duration: 1m, databases: [{db: names.nsf}]}\n"
        "  - {at: 8m, action: mail, from: alice, to: [bob], delay: 2m}\n"
        "  - {at: 6m, action: http, address: a, request: r, time_ms: 240000}\n"
        "  - {at: 5m, action: agent, db: names.nsf, agent: A, signer: alice, elapsed: 5m}\n"
        "  - {at: 10m, user: alice, action: transfer}\n"
    )
    assert [(f.StructType, f.TimeStamp) for f in frames[:5]] == [
        (c.BILL_SESSIONREC, stamp(10)),  # the script action first
        (c.BILL_AGENTREC, stamp(10)),
        (c.BILL_HTTPREQREC, stamp(10)),
        (c.BILL_MAILREC, stamp(10)),
        (c.BILL_REPLREC, stamp(10)),
    ]


# --- bad input: exit 2 with file:line: field --------------------------------------------------


def _validate_errors(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert validate([str(path)], None, io.StringIO()) == 2
    err = capsys.readouterr().err
    prefix = "billsim: "
    assert err.startswith(prefix)
    return [line.removeprefix(prefix).replace(str(path), "bad.yaml") for line in err.splitlines()]


SCRIPT_LINE = head().count("\n") + 1  # the first script line's number


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (
            "{at: 1m, action: mail, from: alice}",
            "script[0].to: required field missing",
        ),
        (
            "{at: 1m, action: mail, from: alice, to: []}",
            "script[0].to: must have at least 1 item(s)",
        ),
        (
            "{at: 1m, action: mail, from: alice, to: [bob], report: loud}",
            "script[0].report: must be 'none', 'basic', 'confirm', 'trace', 'trace-no-deliver'"
            " or 'confirm-no-deliver'",
        ),
        (
            "{at: 1m, action: mail, from: alice, to: [bob], delay: soon}",
            "script[0].delay: expected a duration like 350ms, 3.5s, 15m, 2h, 1d or a number "
            "of seconds, got 'soon'",
        ),
        (
            "{at: 1m, action: replicate, with: h, databases: [{db: nope.nsf}]}",
            "script[0].databases[0].db: database 'nope.nsf' is not declared in databases",
        ),
        (
            "{at: 1m, action: replicate, with: h, direction: sideways,"
            " databases: [{db: names.nsf}]}",
            "script[0].direction: must be 'pull', 'push', 'pull-push' or 'pull-pull'",
        ),
        (
            "{at: 1m, action: replicate, with: h, databases: [{db: names.nsf, bytes_in: -1}]}",
            "script[0].databases[0].bytes_in: must be ≥ 0",
        ),
        (
            "{at: 1m, action: replicate, with: h, databases: [{db: archive/}]}",
            "script[0].databases[0].db: 'archive/' is a directory: replicate needs a database",
        ),
        (
            "{at: 1m, action: agent, db: names.nsf, signer: alice}",
            "script[0].agent: required field missing",
        ),
        (
            "{at: 1m, action: agent, db: archive/, agent: A, signer: alice}",
            "script[0].db: 'archive/' is a directory: agent needs a database",
        ),
        (
            "{at: 1m, action: agent, db: names.nsf, agent: A, signer: alice, flags: [loud]}",
            "script[0].flags[0]: must be 'warnings', 'mail' or 'public'",
        ),
        (
            "{at: 1m, action: http, address: a, request: r, status: 99}",
            "script[0].status: must be ≥ 100",
        ),
        (
            "{at: 1m, action: http, request: r}",
            "script[0].address: required field missing",
        ),
        (
            "{at: 60m, action: http, address: a, request: r}",
            "script[0].at: 1h is not before the end of the run (duration 1h)",
        ),
        (
            "{at: 1m, action: custom, type: NOPE, values: {}}",
            "script[0].type: unknown custom type 'NOPE' (not in custom_types)",
        ),
        (
            "{at: 1m, action: custom, type: NOTECREATEREC,"
            " values: {Username: u, dbNoteID: 0x100000000, ReplicaID: '85258A3B:0052C1F1'}}",
            "script[0].values.dbNoteID: NOTEID 4294967296 out of range 0..4294967295",
        ),
        (
            "{at: 1m, action: custom, type: NOTECREATEREC,"
            f" values: {{Username: {'x' * 257}, dbNoteID: 1, ReplicaID: '85258A3B:0052C1F1'}}}}",
            "script[0].values.Username: 257 bytes of UTF-8 do not fit char[257] (at most 256)",
        ),
        (
            "{at: 1m, action: custom, type: NOTECREATEREC,"
            " values: {Username: u, dbNoteID: 1, ReplicaID: yesterday}}",
            "script[0].values.ReplicaID: expected a DBID like 85258A3B:0052C1F0, got 'yesterday'",
        ),
        (
            "{at: 1m, action: custom, type: NOTECREATEREC, values: {Username: u, dbNoteID: 1}}",
            "script[0].values: missing field ReplicaID of NOTECREATEREC",
        ),
    ],
)
def test_malformed_task_actions_exit_2_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], action: str, error: str
) -> None:
    errors = _validate_errors(tmp_path, head() + f"  - {action}\n", capsys)
    assert errors == [f"bad.yaml:{SCRIPT_LINE}: {error}"]


def test_a_mail_too_big_for_mq_max_msgsize_is_refused_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Natural layout: 280 + 716 + recipients: 300 names of 220 bytes and 299 commas.
    names = ", ".join(f"CN={i:03d}{'x' * 210}/O=A" for i in range(300))
    errors = _validate_errors(
        tmp_path, head() + f"  - {{at: 1m, action: mail, from: alice, to: [{names}]}}\n", capsys
    )
    size = 280 + 716 + 300 * 220 + 299
    assert errors == [
        f"bad.yaml:{SCRIPT_LINE}: script[0]: its record would make a {size}-byte frame, over 65342"
    ]
    # One recipient fewer than the limit allows fits.
    room = 65342 - 280 - 716
    fits = ", ".join(["y" * 255] * (room // 256))
    path = tmp_path / "fits.yaml"
    path.write_text(head() + f"  - {{at: 1m, action: mail, from: alice, to: [{fits}]}}\n")
    assert validate([str(path)], None, io.StringIO()) == 0


@pytest.mark.parametrize(
    ("declaration", "error"),
    [
        (
            "X: {struct_type: 1001, class: Database, fields: [[a, WORD]]}",
            "custom_types.X.struct_type: must be ≥ 32001",
        ),
        (
            "X: {struct_type: 32001, class: Billing, fields: [[a, WORD]]}",
            "custom_types.X.class: unknown billing class 'Billing' (one of session, replication,"
            " document, mail, database, agent, httprequest)",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[a, int]]}",
            "custom_types.X.fields[0][1]: unknown C type 'int' (one of WORD, DWORD, NOTEID,"
            " NUMBER, TIMEDATE, DBID, UNID, OID, char[N])",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: []}",
            "custom_types.X.fields: must have at least 1 item(s)",
        ),
        (
            "X: {struct_type: 32001, class: Mail, fields: [[a, WORD]]}",
            "custom_types.X.struct_type: struct type also used by NOTECREATEREC",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[a, WORD], [a, DWORD]]}",
            "custom_types.X.fields[1]: field a is declared twice",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[class, WORD]]}",
            "custom_types.X.fields[0]: not usable as a C field name: 'class' is a C or C++ keyword",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[MAXUSERNAME, WORD]]}",
            "custom_types.X.fields[0]: not usable as a C field name: 'MAXUSERNAME' is already "
            "declared by billmsg.h",
        ),
        (
            "SESSIONREC: {struct_type: 32002, class: Mail, fields: [[a, WORD]]}",
            "custom_types.SESSIONREC: not usable as a C type name: 'SESSIONREC' is already "
            "declared by billmsg.h",
        ),
        (
            "CLASS_MAIL: {struct_type: 32002, class: Mail, fields: [[a, WORD]]}",
            "custom_types.CLASS_MAIL: not usable as a C type name: its struct type macro "
            "BILL_CLASS_MAIL is already defined by billmsg.h",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[BILL_NOTECREATEREC, WORD]]}",
            "custom_types.X.fields[0]: not usable as a C field name: 'BILL_NOTECREATEREC' is a "
            "macro the header defines for custom type NOTECREATEREC",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[a, 'char[70000]']]}",
            "custom_types.X: a frame would be 70280 bytes, over 65342",
        ),
        (
            "X: {struct_type: 32002, class: Mail, fields: [[2a, WORD]]}",
            "custom_types.X.fields[0][0]: expected a C identifier, got '2a'",
        ),
    ],
)
def test_malformed_custom_types_exit_2_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], declaration: str, error: str
) -> None:
    text = head().replace("script:\n", f"  {declaration}\nscript:\n")
    line = text.splitlines().index(f"  {declaration}") + 1
    errors = _validate_errors(tmp_path, text, capsys)
    assert len(errors) == 1, errors
    file_line, _, rest = errors[0].partition(": ")
    assert rest == error
    # The line of the declaration (or, for a part of it, the declaration's own line).
    assert file_line == f"bad.yaml:{line}"


def test_derived_mail_ids_are_timedates_of_the_derived_range() -> None:
    oid = mail_originator_id(7, "script[0]", stamp(0))
    for part in (oid.File, oid.Note):
        assert 2_451_545 <= part.day_zone < 2_451_545 + 9_000
        assert 0 <= part.ticks < 8_640_000


def test_all_classes_golden_mail_ids_are_the_derived_ones() -> None:
    """tests/golden/all-classes.jsonl was derived by hand but for these identifiers: each
    MAILREC's OriginatorID File and Note are derive_timedate(7, "mail-file"/"mail-note",
    "script[<index of its mail action>]"), Sequence 1, SequenceTime = PostedDate."""
    golden = GOLDEN_TRACES / "all-classes.jsonl"
    mails = [
        json.loads(line)["rec"]
        for line in golden.read_text().splitlines()
        if json.loads(line)["StructType"] == c.BILL_MAILREC
    ]
    assert len(mails) == 2
    for rec, index in zip(mails, (2, 9), strict=True):
        file = derive_timedate(7, "mail-file", f"script[{index}]")
        note = derive_timedate(7, "mail-note", f"script[{index}]")
        assert rec["OriginatorID"] == {
            "File": f"{file.day_zone:08X}:{file.ticks:08X}",
            "Note": f"{note.day_zone:08X}:{note.ticks:08X}",
            "Sequence": 1,
            "SequenceTime": rec["PostedDate"],
        }
        assert rec["OrigMessageID"] == "0" * 32
