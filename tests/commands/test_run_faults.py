"""`billsim run --fault` on a small scenario: each fault's exact effect (docs/faults.md).

The golden traces in tests/golden/faults/ (`all-classes.<fault>.jsonl`, what `billsim run
all-classes --stdout --fault …` prints, and `all-classes.<fault>.faults.json`, the
summary's `faults`) were written by the program. They are not taken on trust: each one is
checked below against the hand-derived golden of the run without faults
(tests/golden/all-classes.jsonl) by the rule docs/faults.md states for its fault — the
frames it lists changed exactly so, every other frame as without the fault — with no use
of the injection code. The crash's trace after the restart, which no rule derives from the
run without faults, is spelled out frame by frame in `test_crash_golden_…`, derived by
hand from docs/lifecycles.md (the comments say how).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from broker_processes import Collector, MosquittoBroker
from paths import GOLDEN_TRACES
from samples import HEADER, NATURAL, OFFSETS, REC_SIZE, STRUCT_TYPE

from simulator.adapters.stores import read_rows
from simulator.addin.bill import bill
from simulator.commands.run import RunRequest, run
from simulator.commands.run_domain import run_scenario
from simulator.errors import InputError
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import frame_from_json
from simulator.wire.timedate import TICKS_PER_DAY, format_timedate, parse_timedate

GOLDEN = GOLDEN_TRACES / "faults"
BASE = (GOLDEN_TRACES / "all-classes.jsonl").read_text(encoding="utf-8").splitlines()
CODEC = FrameCodec(custom_kinds=load_scenario(resolve_scenario("all-classes")).custom_kinds())
CASES: dict[str, tuple[str, ...]] = {
    "duplicate": ("duplicate=0.25",),
    "reorder": ("reorder={share: 0.2, window: 3}",),
    "corrupt": ("corrupt=0.3",),
    "truncate": ("truncate=0.3",),
    "crash": ("crash={at: 9m, restart_after: 2m, queued: 2m}",),
    "clock_step": ("clock_step={at: 10m, by: -1h}",),
    "dst": ("dst=Australia/Sydney",),
    "wrap": ("wrap=true",),
}
KIND_OF = {struct_type: name for name, (struct_type, _) in STRUCT_TYPE.items()}
WRAP_START = (1 << 32) - 1024  # docs/faults.md: 1024 below 2^32
ALICE, BOB = "CN=Alice Smith/O=Acme", "CN=Bob Jones/O=Acme"


def run_stdout(*faults: str, **options: Any) -> tuple[list[str], dict[str, Any]]:
    """`billsim run all-classes --stdout --fault …` in-process: its lines and its summary."""
    stdout = io.StringIO()
    summary = io.StringIO()
    request = RunRequest(scenario="all-classes", stdout=True, faults=faults, **options)
    path = options.get("summary_path")
    assert run(request, stdout, summary) == 0, summary.getvalue()
    summary_json = json.loads(Path(path).read_text()) if path else {}
    return stdout.getvalue().splitlines(), summary_json


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], Any]]:
    directory = tmp_path_factory.mktemp("faults")
    out = {}
    for name, faults in CASES.items():
        lines, summary = run_stdout(*faults, summary_path=directory / f"{name}.json")
        out[name] = (lines, summary)
    return out


def golden(name: str) -> tuple[list[str], list[dict[str, Any]]]:
    lines = (GOLDEN / f"all-classes.{name}.jsonl").read_text(encoding="utf-8").splitlines()
    entries = json.loads((GOLDEN / f"all-classes.{name}.faults.json").read_text(encoding="utf-8"))
    return lines, entries


def frame_bytes(line: str) -> bytes:
    return CODEC.encode(frame_from_json(CODEC, json.loads(line)))


def by_seq(lines: list[str]) -> dict[int, str]:
    return {json.loads(line)["seq"]: line for line in lines}


def touched(entries: list[dict[str, Any]], kind: str) -> list[int]:
    return [seq for entry in entries if entry["fault"] == kind for seq in entry["seq"]]


def base_frame_info(seq: int) -> dict[str, Any]:
    """What the base golden's frame `seq` bills, read off its JSON by docs/faults.md's table."""
    rec = json.loads(BASE[seq - 1])["rec"]
    kind = json.loads(BASE[seq - 1])["StructType"]
    if kind == c.BILL_SESSIONREC:
        fields = {"sessions": 1, "bytes_in": rec["BytesIn"], "bytes_out": rec["BytesOut"]}
        return {"user": rec["Username"], "fields": fields}
    if kind == c.BILL_DBREC:
        return {"user": rec["Username"], "fields": {"db_open_time": rec["DBOpenTime"]}}
    if kind == c.BILL_DOCCHARGE:
        return {"user": rec["Username"], "fields": {"charges": rec["Charge"], "documents": 1}}
    if kind == c.BILL_MAILREC:
        return {"user": rec["Originator"], "fields": {"mail": 1, "mail_bytes": rec["MessageSize"]}}
    if kind == c.BILL_REPLREC:
        fields = {"replication_bytes_in": rec["BytesIn"], "replication_bytes_out": rec["BytesOut"]}
        return {"user": rec["Source"], "fields": fields}  # all-classes pulls from the hub
    if kind == c.BILL_AGENTREC:
        fields = {"agents": 1, "agent_time": rec["ElapsedRunTime"]}
        return {"user": rec["UserName"], "fields": fields}
    if kind == c.BILL_HTTPREQREC:
        fields = {"web": 1, "web_bytes": rec["HttpContentLength"]}
        return {"user": rec["AuthUser"] or "Anonymous", "fields": fields}
    return {"user": None, "fields": {}}


# -- the goldens are what the program writes -----------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_each_fault_writes_its_golden_trace_and_lists_it(
    name: str, outputs: dict[str, tuple[list[str], Any]]
) -> None:
    lines, summary = outputs[name]
    golden_lines, golden_entries = golden(name)
    assert lines == golden_lines
    assert summary["faults"] == golden_entries
    for entry in golden_entries:
        assert entry["fault"] == name
        assert entry["server"] == "CN=Mail01/O=Acme" and entry["run"] is None
        assert list(entry["frames"]) == [str(seq) for seq in entry["seq"]]


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_faults_give_the_same_bytes_to_out_and_stdout(
    name: str, outputs: dict[str, tuple[list[str], Any]], tmp_path: Path
) -> None:
    out = tmp_path / "run.nbf"
    request = RunRequest(scenario="all-classes", out=out, faults=CASES[name])
    assert run(request, io.StringIO(), io.StringIO()) == 0
    lines, _ = outputs[name]
    assert out.read_bytes() == b"".join(frame_bytes(line) for line in lines)


# -- each golden against the run without faults, by the rule of its fault --------------------


def test_duplicate_golden_is_the_base_with_each_listed_frame_twice() -> None:
    lines, entries = golden("duplicate")
    doubled = touched(entries, "duplicate")
    assert doubled == [2, 9, 15, 17, 18, 20]
    expected = [
        line for line in BASE for _ in range(2 if json.loads(line)["seq"] in doubled else 1)
    ]
    assert lines == expected
    for entry in entries:
        (seq,) = entry["seq"]
        assert entry["frames"][str(seq)] == base_frame_info(seq)


def test_truncate_golden_cuts_each_listed_frame_inside_its_record_and_no_other() -> None:
    lines, entries = golden("truncate")
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(BASE) + 1))
    cut = {entry["seq"][0]: entry for entry in entries}
    assert sorted(cut) == [6, 7, 13, 14, 19, 20]
    for line, base in zip(lines, BASE, strict=True):
        seq = json.loads(line)["seq"]
        if seq not in cut:
            assert line == base
            continue
        original = frame_bytes(base)
        kept = cut[seq]["kept"]
        header = HEADER[NATURAL].size
        record_size = REC_SIZE[NATURAL][KIND_OF[json.loads(base)["StructType"]]]
        assert header <= kept < HEADER[NATURAL].rec_at + record_size
        obj = json.loads(line)
        assert obj["Len"] == kept and obj["StructType"] == json.loads(base)["StructType"]
        assert frame_bytes(line) == kept.to_bytes(2, "little") + original[2:kept]
        assert cut[seq]["frames"][str(seq)] == base_frame_info(seq)


def test_corrupt_golden_flips_one_byte_of_a_numeric_field_of_each_listed_frame() -> None:
    lines, entries = golden("corrupt")
    flipped = {entry["seq"][0]: entry for entry in entries}
    assert sorted(flipped) == [3, 14, 15, 18, 19]
    sizes = {"OrigMessageID": 16, "ReplicaID": 8, "BytesOut": 4}  # UNID, DBID, DWORD
    for line, base in zip(lines, BASE, strict=True):
        seq = json.loads(line)["seq"]
        if seq not in flipped:
            assert line == base
            continue
        entry = flipped[seq]
        before, after = frame_bytes(base), frame_bytes(line)
        assert [i for i in range(len(before)) if before[i] != after[i]] == [entry["offset"]]
        kind = KIND_OF[json.loads(base)["StructType"]]
        first = HEADER[NATURAL].rec_at + OFFSETS[NATURAL][kind][entry["field"]]
        assert first <= entry["offset"] < first + sizes[entry["field"]]
        assert entry["frames"][str(seq)] == base_frame_info(seq)
        # The frame still reads as its record, one value different.
        changed = [
            key
            for key, value in json.loads(line)["rec"].items()
            if value != json.loads(base)["rec"][key]
        ]
        assert changed == [entry["field"]]


def test_reorder_golden_moves_only_the_held_frames_each_after_1_to_3_later_ones() -> None:
    lines, entries = golden("reorder")
    order = [json.loads(line)["seq"] for line in lines]
    assert sorted(order) == list(range(1, len(BASE) + 1))
    base = by_seq(BASE)
    assert all(line == base[json.loads(line)["seq"]] for line in lines)  # nothing else changes
    held = [entry["held"] for entry in entries]
    assert sorted(held) == [3, 12, 13, 14, 16, 18]
    others = [seq for seq in order if seq not in held]
    assert others == sorted(others)
    for entry in entries:
        ahead = [seq for seq in entry["seq"] if seq != entry["held"]]
        assert 1 <= len(ahead) <= 3 and all(seq > entry["held"] for seq in ahead)
        position = order.index(entry["held"])
        assert all(order.index(seq) < position for seq in ahead)
        # Every frame written after it and delivered before it is listed.
        assert {s for s in order[:position] if s > entry["held"]} == set(ahead)
        assert entry["delivered_after"] == max(ahead, key=order.index)
        for seq in entry["seq"]:
            assert entry["frames"][str(seq)] == base_frame_info(seq)


def _moved(text: str, by_ticks: int) -> str:
    value = parse_timedate(text)
    absolute = value.julian_day * TICKS_PER_DAY + value.ticks + by_ticks
    return format_timedate(type(value)(absolute % TICKS_PER_DAY, absolute // TICKS_PER_DAY))


def test_clock_step_golden_moves_every_time_the_server_writes_from_the_first_listed_frame() -> None:
    lines, (entry,) = golden("clock_step")
    assert entry["seq"] == [13] and entry["by_s"] == -3600
    assert entry["at"] == "2026-11-23T08:10:00.00Z"
    hour = 3600 * 100
    for line, base in zip(lines, BASE, strict=True):
        obj, expected = json.loads(line), json.loads(base)
        if obj["seq"] >= 13:
            expected["TimeStamp"] = _moved(expected["TimeStamp"], -hour)
            if expected["StructType"] == c.BILL_MAILREC:  # posted as routed: its times too
                rec = expected["rec"]
                rec["PostedDate"] = _moved(rec["PostedDate"], -hour)
                oid = rec["OriginatorID"]
                oid["SequenceTime"] = _moved(oid["SequenceTime"], -hour)
        assert obj == expected  # DBOpenTime and every other value as without the step
    assert entry["frames"]["13"] == base_frame_info(13)


def test_dst_golden_labels_every_time_with_sydneys_summer_zone() -> None:
    lines, (entry,) = golden("dst")
    assert entry == {
        "fault": "dst",
        "server": "CN=Mail01/O=Acme",
        "run": None,
        "zone": "Australia/Sydney",
        "seq": [],
        "frames": {},
    }
    # AEDT in November: standard offset 10 h east (bits 24-27 = 10, bit 30), DST (bit 31).
    label = 10 << 24 | 1 << 30 | 1 << 31

    def zoned(text: str) -> str:
        value = parse_timedate(text)
        return f"{value.day_zone | label:08X}:{value.ticks:08X}"

    for line, base in zip(lines, BASE, strict=True):
        obj, expected = json.loads(line), json.loads(base)
        expected["TimeStamp"] = zoned(expected["TimeStamp"])
        if expected["StructType"] == c.BILL_MAILREC:
            rec = expected["rec"]
            rec["PostedDate"] = zoned(rec["PostedDate"])
            rec["OriginatorID"]["SequenceTime"] = zoned(rec["OriginatorID"]["SequenceTime"])
        assert obj == expected


def test_wrap_golden_starts_each_sessions_counters_1024_below_2_32() -> None:
    lines, (entry,) = golden("wrap")
    last: dict[tuple[int, int], tuple[int, int]] = {}
    wrapped = []
    for line, base in zip(lines, BASE, strict=True):
        obj, expected = json.loads(line), json.loads(base)
        if expected["StructType"] == c.BILL_SESSIONREC:
            rec = expected["rec"]
            rec["BytesIn"] = (WRAP_START + rec["BytesIn"]) % (1 << 32)
            rec["BytesOut"] = (WRAP_START + rec["BytesOut"]) % (1 << 32)
            session = (rec["SessionID"]["Index"], rec["SessionID"]["SeqNo"])
            before = last.get(session, (WRAP_START, WRAP_START))
            if rec["BytesIn"] < before[0] or rec["BytesOut"] < before[1]:
                wrapped.append(obj["seq"])
            last[session] = (rec["BytesIn"], rec["BytesOut"])
        assert obj == expected
    # Alice's START (BytesOut 2200 passes 1024) and her STAMP (BytesIn 1600).
    assert entry["seq"] == wrapped == [1, 15]
    assert entry["counters_start"] == WRAP_START


def test_crash_golden_loses_the_queued_frames_and_restarts_with_new_seqnos() -> None:
    lines, (entry,) = golden("crash")
    # Up to the crash at 08:09: the base run's frames; its two web requests (08:07:00.03,
    # 08:08:00.00), written in the last 2 minutes, were still in MQ$BILLING: lost.
    assert lines[:10] == BASE[:10]
    assert entry["lost"] == [11, 12]
    assert entry["at"] == "2026-11-23T08:09:00.00Z"
    assert entry["restart_at"] == "2026-11-23T08:11:00.00Z"
    assert entry["sessions_without_end"] == 2
    # Lost: 11, 12; alice's latest SESSIONREC (START, 1) and DBREC (OPEN, 2); bob's (6, 7).
    assert entry["seq"] == [1, 2, 6, 7, 11, 12]
    for seq in entry["seq"]:
        assert entry["frames"][str(seq)] == base_frame_info(seq)
    assert entry["abandoned_tasks"] == 0 and entry["script_actions_skipped"] == 0
    # After the restart at 08:11, derived from docs/lifecycles.md: slots free again, each
    # Index reused with its next SeqNo (slot 1 had the replicator and bob, slot 2 alice).
    expected = [
        # 08:12 alice edits her mail file: a new session on slot 1 (its third use), the
        # edit opens the database.
        (13, "08:12:00.00", c.BILL_SESSIONREC, (1, 3), c.BILL_SESSION_START, (1200, 300)),
        (14, "08:12:00.00", c.BILL_DBREC, (1, 3), c.BILL_DB_OPEN, 0),
        # 08:15 the message from Dave Lee, delivered here.
        (15, "08:15:00.00", c.BILL_MAILREC, None, None, 2048),
        # 08:16 bob edits the orders database: slot 2, its second use.
        (16, "08:16:00.00", c.BILL_SESSIONREC, (2, 2), c.BILL_SESSION_START, (300, 50)),
        (17, "08:16:00.00", c.BILL_DBREC, (2, 2), c.BILL_DB_OPEN, 0),
        # 08:20 alice closes her mail file: open 8 minutes.
        (18, "08:20:00.00", c.BILL_DBREC, (1, 3), c.BILL_DB_CLOSE, 48000),
        # 08:22 her session's boundary (10 minutes from 08:12) stamps the close's activity
        # first, then her logout: CLOSE_END, END.
        (19, "08:22:00.00", c.BILL_SESSIONREC, (1, 3), c.BILL_SESSION_STAMP, (1200, 300)),
        (20, "08:22:00.00", c.BILL_DBREC, (1, 3), c.BILL_DB_CLOSE_END, 48000),
        (21, "08:22:00.00", c.BILL_SESSIONREC, (1, 3), c.BILL_SESSION_END, (1200, 300)),
        # 08:30 shutdown: bob's session ends, his database open 14 minutes.
        (22, "08:30:00.00", c.BILL_DBREC, (2, 2), c.BILL_DB_CLOSE_END, 84000),
        (23, "08:30:00.00", c.BILL_SESSIONREC, (2, 2), c.BILL_SESSION_END, (300, 50)),
    ]
    assert len(lines) == 10 + len(expected)
    for line, (seq, time, kind, session, action, values) in zip(lines[10:], expected, strict=True):
        obj = json.loads(line)
        rec = obj["rec"]
        assert (obj["seq"], obj["TimeStamp"], obj["StructType"]) == (
            seq,
            f"2026-11-23T{time}Z",
            kind,
        )
        if session is not None:
            assert (rec["SessionID"]["Index"], rec["SessionID"]["SeqNo"]) == session
            assert rec["Action"] == action
        if kind == c.BILL_SESSIONREC:
            assert (rec["BytesIn"], rec["BytesOut"]) == values
        elif kind == c.BILL_DBREC:
            assert rec["DBOpenTime"] == values
        else:
            assert rec["MessageSize"] == values and rec["Originator"] == "CN=Dave Lee/O=Partner"


# -- the ground truth with faults --------------------------------------------------------------


def test_crash_ground_truth_bills_each_cut_session_by_its_latest_record(
    outputs: dict[str, tuple[list[str], Any]],
) -> None:
    _, summary = outputs["crash"]
    users = summary["users"]
    # Alice: the cut session's START (400/2200, DBOpenTime 0), the second's END (1200/300,
    # 48000); her web request was lost on its way, not unbilled: it is in the truth.
    alice = users[ALICE]
    assert (alice["sessions"], alice["bytes_in"], alice["bytes_out"]) == (2, 1600, 2500)
    assert (alice["db_open_time"], alice["web"], alice["web_bytes"]) == (48000, 1, 5120)
    bob = users[BOB]
    assert (bob["sessions"], bob["bytes_in"], bob["bytes_out"]) == (2, 400, 950)
    assert (bob["db_open_time"], bob["charges"], bob["agents"]) == (84000, 0.05, 1)
    assert summary["sessions_started"] == 4 and summary["records"] == 23


@pytest.mark.parametrize(
    "faults",
    [
        ("crash={at: 9m, restart_after: 2m, queued: 0s}",),
        ("crash={at: 17m, queued: 0s}",),
        ("wrap=true",),
        ("dst=true",),
        ("clock_step={at: 10m, by: -1h}",),
        (
            "clock_step={at: 10m, by: 3h}",
            "wrap=true",
            "crash={at: 20m, restart_after: 1m, queued: 0s}",
        ),
    ],
    ids=lambda faults: "+".join(f.split("=")[0] for f in faults),
)
def test_a_correct_consumer_bills_the_ground_truth_when_nothing_is_lost(
    faults: tuple[str, ...], tmp_path: Path
) -> None:
    """docs/addin.md's rules, applied to the stream (the add-in's own bill), give the
    summary's users: the truth is what a correct consumer bills."""
    out, summary = tmp_path / "run.nbf", tmp_path / "summary.json"
    request = RunRequest(scenario="all-classes", out=out, faults=faults, summary_path=summary)
    assert run(request, io.StringIO(), io.StringIO()) == 0
    users = json.loads(summary.read_text())["users"]
    assert bill(read_rows(f"nbf:{out}")) == users


# -- the command line ----------------------------------------------------------------------


def test_a_fault_option_overrides_the_scenarios_block(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "scenarios" / "all-classes.yaml").read_text()
    scenario = tmp_path / "faulty.yaml"
    scenario.write_text(text + "faults: {duplicate: 0.2, wrap: true}\n")
    stdout = io.StringIO()
    request = RunRequest(
        scenario=str(scenario),
        stdout=True,
        faults=("duplicate=0",),
        summary_path=tmp_path / "s.json",
    )
    assert run(request, stdout, io.StringIO()) == 0
    kinds = [entry["fault"] for entry in json.loads((tmp_path / "s.json").read_text())["faults"]]
    assert kinds == ["wrap"]  # the block's wrap stays, its duplicate is off
    assert stdout.getvalue().splitlines() == golden("wrap")[0]


def test_without_faults_the_summary_has_no_faults_key(tmp_path: Path) -> None:
    _, summary = run_stdout(summary_path=tmp_path / "s.json")
    assert "faults" not in summary


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (("crash=soon",), "--fault crash: "),
        (("crash={at: 31m}",), "--fault crash.at: 31m is not before the end of the run"),
        (
            ("clock_step={at: 10m, by: 99999999d}",),
            "--fault clock_step.by: 99999999d would put the server's clock after the year 9999",
        ),
        (("speed=2",), "--fault speed: unknown fault"),
    ],
)
def test_a_bad_fault_option_is_bad_input(faults: tuple[str, ...], message: str) -> None:
    with pytest.raises(InputError) as caught:
        run(
            RunRequest(scenario="all-classes", stdout=True, faults=faults),
            io.StringIO(),
            io.StringIO(),
        )
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_shorter_duration_puts_the_blocks_crash_after_the_end(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "scenarios" / "all-classes.yaml").read_text()
    scenario = tmp_path / "faulty.yaml"
    scenario.write_text(text + "faults: {crash: {at: 20m}}\n")
    request = RunRequest(scenario=str(scenario), stdout=True, duration="10m")
    with pytest.raises(InputError) as caught:
        run(request, io.StringIO(), io.StringIO())
    assert str(caught.value).startswith(f"{scenario}:") and "faults.crash.at: 20m" in str(
        caught.value
    )


def test_the_summary_line_names_the_faults_injected(tmp_path: Path) -> None:
    stderr = io.StringIO()
    request = RunRequest(
        scenario="all-classes", stdout=True, faults=CASES["crash"] + CASES["duplicate"]
    )
    assert run(request, io.StringIO(), stderr) == 0
    assert (
        "faults injected: crash at 2026-11-23T08:09:00.00Z (2 sessions without END, 2 frames "
        "lost in MQ$BILLING, restart at 2026-11-23T08:11:00.00Z); duplicate 6 frames "
        "(seq 2, 9, 15, 17, 18, 20)"
    ) in stderr.getvalue()


# -- a domain: each server its own draws, the merged summary every server's entries ---------

DOMAIN = """\
name: faulty-domain
seed: 11
start: "2026-11-21T09:00:00Z"
duration: 30m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database", BillingSuppressTime: 1}
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
workload: {users: 40, think_time: 20s, session_length: 6m, arrival: 5m, servers: 2}
faults: {duplicate: 0.01, crash: {at: 15m, restart_after: 2m, queued: 30s}}
"""


def test_a_domain_lists_each_servers_faults_and_merges_them(tmp_path: Path) -> None:
    scenario = tmp_path / "domain.yaml"
    scenario.write_text(DOMAIN)
    summary_path = tmp_path / "summary.json"
    request = RunRequest(
        scenario=str(scenario), out=tmp_path / "d.nbf", summary_path=summary_path, procs=1
    )
    assert run_scenario(request, io.StringIO(), io.StringIO()) == 0
    summary = json.loads(summary_path.read_text())
    servers = summary["servers"]
    assert list(servers) == ["CN=Mail01/O=Acme", "CN=Mail02/O=Acme"]
    for name, server in servers.items():
        assert server["faults"] and all(entry["server"] == name for entry in server["faults"])
        assert [entry["fault"] for entry in server["faults"]].count("crash") == 1
    assert (
        summary["faults"]
        == servers["CN=Mail01/O=Acme"]["faults"] + servers["CN=Mail02/O=Acme"]["faults"]
    )
    duplicated = [{seq for seq in touched(s["faults"], "duplicate")} for s in servers.values()]
    assert duplicated[0] != duplicated[1]  # each server draws its own


# -- MQTT: the same frames as --out ------------------------------------------------------------

FAULTS_ON_MQTT = ("duplicate=0.2", "truncate=0.2", "corrupt=0.2", "reorder={share: 0.2, window: 3}")


async def test_on_mqtt_the_frames_are_those_out_writes_with_the_runs_id_in_the_faults(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    out = tmp_path / "ref.nbf"
    reference = RunRequest(scenario="all-classes", out=out, faults=FAULTS_ON_MQTT)
    assert await asyncio.to_thread(run, reference, io.StringIO(), io.StringIO()) == 0
    data, frames = out.read_bytes(), []
    while data:
        length = int.from_bytes(data[:2], "little")
        frames.append(data[:length])
        data = data[length:]
    summary_path = tmp_path / "summary.json"
    collector = await Collector(mosquitto, ("domino/billing/Mail01/#",)).start()
    try:
        request = RunRequest(
            scenario="all-classes",
            broker=mosquitto.url,
            speed="max",
            faults=FAULTS_ON_MQTT,
            summary_path=summary_path,
        )
        assert await asyncio.to_thread(run, request, io.StringIO(), io.StringIO()) == 0

        def received() -> list[Any]:
            return [m for m in collector.messages if "seq" in (m.user_properties or {})]

        assert await collector.wait_for(lambda: len(received()) >= len(frames))
    finally:
        await collector.stop()
    messages = received()
    assert [m.payload for m in messages] == frames
    summary = json.loads(summary_path.read_text())
    assert summary["delivered"] == len(frames) > summary["records"]
    assert {entry["run"] for entry in summary["faults"]} == {summary["run"]}
    assert {m.user_properties["run"] for m in messages} == {summary["run"]}
    duplicated = touched(summary["faults"], "duplicate")
    seqs = [int(m.user_properties["seq"]) for m in messages]
    assert all(seqs.count(seq) == 2 for seq in duplicated)
