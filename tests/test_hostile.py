"""Hostile input never crashes billsim: mutated frame streams at decode, check, the
add-in's intake and replay (captures too), mutated scenario and notes.ini files at the
loader (and the first events of a run). Each reader either reads the input or refuses
it as bad input (exit 2) naming the file and a line or byte offset (tests/hostile.py
says exactly what is checked).

Bounded: a few hundred examples in all, seconds each module. The coverage-guided fuzzer
(bench/fuzz.py) runs the same targets for as long as it is given.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from pathlib import Path

import hostile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import GOLDEN_TRACES, REPO

from simulator.adapters.capture import CaptureWriter
from simulator.wire.codec import FrameCodec, peek_header
from simulator.wire.jsonform import frame_from_json

_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: a failure here is reproducible
)


@functools.cache
def _golden_streams() -> tuple[bytes, ...]:
    """Binary streams and JSON lines of a few golden traces, the inputs to mutate."""
    codec = FrameCodec()
    streams: list[bytes] = []
    for name in ("all-classes", "notecreate", "slot-reuse"):
        lines = (GOLDEN_TRACES / f"{name}.jsonl").read_text().splitlines()
        try:
            frames = [codec.encode(frame_from_json(codec, json.loads(line))) for line in lines]
        except ValueError:
            frames = []  # a custom type needs its scenario: its JSON lines still serve
        if frames:
            streams.append(b"".join(frames[:8]))
        streams.append("\n".join(lines[:6]).encode() + b"\n")
    # The truncate fault's cut frames, header + `rec.raw` of a built-in type, with their
    # neighbours: their JSON lines, and their bytes (all of them built-in types).
    lines = (GOLDEN_TRACES / "faults" / "all-classes.truncate.jsonl").read_text().splitlines()
    first = next(number for number, line in enumerate(lines) if '"raw"' in line)
    window = lines[max(first - 2, 0) : first + 3]
    streams.append("\n".join(window).encode() + b"\n")
    objs = [json.loads(line) for line in window]
    if all(obj["StructType"] < 32001 for obj in objs):
        streams.append(b"".join(codec.encode(frame_from_json(codec, obj)) for obj in objs))
    return tuple(streams)


# Bytes that mean something to a reader: Len and StructType values, NUL, 0xFF, `{`.
_SPECIAL_WORDS = [0, 1, 2, 279, 280, 999, 1000, 3001, 6001, 32001, 65342, 65343, 0xFFFF]


@functools.cache
def _replay_streams() -> tuple[bytes, ...]:
    """The golden streams, and captures (`billsim record`'s JSON lines) of their frames."""
    codec = FrameCodec()
    captures = []
    for stream in _golden_streams():
        if stream.startswith(b"{"):
            continue
        out = io.StringIO()
        writer = CaptureWriter(out)
        offset = seq = 0
        while offset < len(stream):
            length = peek_header(stream, offset)[0]
            seq += 1
            props = {"seq": str(seq), "run": "r1", "sent": "1795000000000000"}
            frame = stream[offset : offset + length]
            writer.write(seq * 0.25, "domino/billing/Mail01/session", seq, frame, props)
            offset += length
        codec.decode(stream[:length])  # the stream is frames of this layout
        captures.append(out.getvalue().encode())
    return (*_golden_streams(), *captures)


@st.composite
def mutated_stream(
    draw: st.DrawFn, streams: Callable[[], tuple[bytes, ...]] = _golden_streams
) -> bytes:
    data = bytearray(draw(st.sampled_from(streams())))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        ops = ["flip", "word", "insert", "delete", "cut", "copy", "name", "escape"]
        match draw(st.sampled_from(ops)):
            case "escape":  # in a JSON line: a \u escape, of a surrogate or not
                text = draw(st.sampled_from(["\\ud800", "\\udcff", "\\u0000", "\\", '\\"']))
                data[at:at] = text.encode()
            case "name":  # a byte that is not UTF-8 in every name that starts CN=
                byte = draw(st.integers(0x80, 0xFF))
                for found in range(len(data) - 3):
                    if bytes(data[found : found + 3]) in (b"CN=", b'"CN'):
                        data[found + 3] = byte
            case "flip":
                if data:
                    data[at] = draw(st.integers(0, 255))
            case "word":
                word = draw(st.sampled_from(_SPECIAL_WORDS)).to_bytes(2, "little")
                data[at : at + 2] = word
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=40))
            case "delete":
                del data[at : at + draw(st.integers(1, 300))]
            case "cut":
                del data[at:]
            case "copy":
                data[at:at] = data[at : at + draw(st.integers(1, 1200))]
    return bytes(data)


@_SETTINGS
@given(mutated_stream())
def test_decode_reads_or_refuses_a_mutated_stream(data: bytes) -> None:
    hostile.decode_target(data)


@_SETTINGS
@given(mutated_stream())
def test_check_reads_or_refuses_a_mutated_stream(data: bytes) -> None:
    hostile.check_target(data)


@_SETTINGS
@given(st.one_of(mutated_stream(), st.binary(max_size=1200)))
def test_the_addins_intake_never_raises_on_a_mutated_payload(data: bytes) -> None:
    hostile.intake_target(data)


@_SETTINGS
@given(mutated_stream(_replay_streams))
def test_replay_plays_or_refuses_a_mutated_stream_or_capture(data: bytes) -> None:
    hostile.replay_target(data)


# --- scenarios and notes.ini --------------------------------------------------------------------

_SMALL_WORKLOAD = """\
name: small-workload
start: "2026-11-23T08:00:00Z"
duration: 2h
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document,Mail,Replication,Agent,HttpRequest"}
databases:
  apps/a.nsf: {replica_id: "85258A3B:0052C1F1", documents: {0x10: {charge_read: 0.1}}}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}
script:
  - {at: 1m, user: alice, action: read, db: apps/a.nsf, note_id: 0x10, bytes_in: 10}
  - {at: 2m, action: mail, from: alice, to: [alice], size: 2000, report: trace-no-deliver}
workload:
  users: 5
  think_time: {exponential: {mean: 30s}}
  session: {length: {constant: 20m}, idle_timeout: 10m}
  databases: {count: 3, mail_file: "mail/{user}.nsf", charged: 0.1}
  mail: {per_day: 20, recipients: {poisson: {mean: 2}}, size: notesbench}
  replication: [{with: CN=Hub01/O=Acme, every: 30m, databases: 2}]
  agents: [{db: apps/a.nsf, agent: Nightly, every: 30m}]
  http: {share: 0.5, visits_per_day: 10, per_visit: 3}
"""


@functools.cache
def _scenario_texts() -> tuple[str, ...]:
    names = ("lifecycle-demo", "all-classes", "class-filter", "notecreate")
    return (*((REPO / "scenarios" / f"{name}.yaml").read_text() for name in names), _SMALL_WORKLOAD)


# Values that have broken loaders: huge and odd numbers, aliases, YAML's own syntax.
_HOSTILE_VALUES = [
    "1" * 4301,
    "0x" + "f" * 300,
    "-1",
    "0",
    ".inf",
    "-.nan",
    "1e999",
    "99999999999d",
    "forever",
    "~",
    "[]",
    "{}",
    "*nowhere",
    "&a [*a]",
    '"' + "x" * 5000 + '"',
    '"\\x00"',
    "2026-13-45T99:00:00Z",
    "!!python/object:os.system",
    "{constant: 0}",
    "[*b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "a\tb",
    "'CN=\\udcff'",
]
_ANCHOR = "b: &b [x, x, x, x, x, x, x, x, x]\n"


@st.composite
def mutated_scenario(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(_scenario_texts())).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        match draw(st.sampled_from(["value", "delete", "repeat", "swap", "char", "indent"])):
            case "value":
                key, colon, _ = line.partition(": ")
                value = draw(st.sampled_from(_HOSTILE_VALUES))
                lines[at] = f"{key}: {value}" if colon else f"{line} {value}"
            case "delete":
                del lines[at]
            case "repeat":
                lines[at:at] = [line] * draw(st.integers(1, 300))
            case "swap":
                other = draw(st.integers(0, len(lines) - 1))
                lines[at], lines[other] = lines[other], lines[at]
            case "char":
                position = draw(st.integers(0, len(line)))
                char = draw(st.sampled_from(list(":-[]{}&*!|>'\"#%@`,?\t\x00\x7f\u00e9\ufeff")))
                lines[at] = line[:position] + char + line[position:]
            case "indent":
                lines[at] = " " * draw(st.integers(1, 5)) + line
        if not lines:
            break
    text = "\n".join([_ANCHOR.rstrip("\n"), *lines]) if draw(st.booleans()) else "\n".join(lines)
    return (text + "\n").encode("utf-8", "surrogatepass")


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(mutated_scenario())
def test_a_mutated_scenario_loads_and_starts_or_is_refused_at_its_line(data: bytes) -> None:
    hostile.scenario_target(data)


# Pieces of YAML, put together at random: odd scalars (YAML 1.1 booleans, octal, sexagesimal,
# dates), flow and block syntax, indentation, quotes and escapes.
_YAML_PIECES = [
    *("a", "b", "key", "0x10", "010", "1:30", "1_0", "yes", "Off", "~", "null", "1.5", "-.inf"),
    *(".NaN", "2026-11-23", "2026-11-23T08:00:00Z", "1e3", "+1", "<<", "=", "'q'", '"\\x41"'),
    *('"a\\nb"', "''", '""', "|", ">-", "!!str", "&a", "*a", "? ", ": ", ":", "- ", ", "),
    *("[", "]", "{", "}", "#", "\n", "\n  ", "\n    ", "\n- ", " ", "\t", "---", "..."),
]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(st.lists(st.sampled_from(_YAML_PIECES), max_size=40))
def test_both_yaml_readers_agree_on_pieces_of_yaml(pieces: list[str]) -> None:
    hostile.yaml_readers_target("".join(pieces).encode())


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(mutated_scenario())
def test_both_yaml_readers_agree_on_a_mutated_scenario(data: bytes) -> None:
    hostile.yaml_readers_target(data)


# Lines that are, or nearly are, the flow lines the YAML reader reads without libyaml
# (yamlsource._flow_lines): sections of items or entries, in runs, now and then broken
# by another line or one that may hold them as text.
_FLOW_BODIES = [
    *("{a: 1}", "{a: b, c: d}", "{a: 1, a: 2}", '{a: "x, b: c"}', "{a: 2026-13-45}", "{a: =}"),
    *("{yes: no, on: off}", "{0x10: 1, 16: 2}", "{a: two  words}", '{a: ""}', "{a: [x]}"),
    *("{a: 1} # c", "{a: 1}  ", "{a: _billsim_flow_0}", "{a: 1e3, b: .inf, c: ~x}"),
    *("{a: [x, y], b: [1, 0x10, yes]}", "{a: []}", "{a: [x, [y]]}", '{a: "[x]", b: [z]}'),
]
_FLOW_KEYS = [*(f"k{n}" for n in range(12)), "0x10", "16", "yes", "on", "a.b"]
_FLOW_OTHERS = ["x: |", "x: >-", 'x: "open', '  close"', "x: [", "]", "x: {", "}", "  - x"]
_FLOW_OTHERS += ["# c", "", "  y: 1", "z: &a {a: 1}", "w: *a", "---", "\t- {a: 1}", "   - {a: 1}"]


@st.composite
def flow_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for section in range(draw(st.integers(1, 3))):
        lines.append(f"s{section}:")
        indent = " " * draw(st.sampled_from([0, 2, 4]))
        items = draw(st.booleans())
        for _ in range(draw(st.integers(1, 8))):
            if draw(st.integers(0, 9)) == 0:
                lines.append(draw(st.sampled_from(_FLOW_OTHERS)))
                continue
            lead = "- " if items else f"{draw(st.sampled_from(_FLOW_KEYS))}: "
            odd = draw(st.integers(0, 3)) == 0
            body = draw(st.sampled_from(_FLOW_BODIES)) if odd else "{a: 1, b: x y, c: 0x10}"
            lines.append(f"{indent}{lead}{body}")
    return ("\n".join(lines) + "\n").encode()


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(flow_lines())
def test_both_yaml_readers_agree_on_flow_lines(data: bytes) -> None:
    hostile.yaml_readers_target(data)


_NOTES_INI = (
    "[Notes]\nServerName=CN=Mail01/O=Acme\nBillingClass=Session,Database\n"
    "BillingSuppressTime=15\nBillingAddinWakeup=60\nBillingAddinRuntime=10\n"
    "BillingAddinOutput=9\n; a comment\nKeyFileName=server.id\n"
)


@st.composite
def mutated_notes_ini(draw: st.DrawFn) -> bytes:
    lines = _NOTES_INI.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        match draw(st.sampled_from(["value", "delete", "repeat", "bytes"])):
            case "value":
                key = lines[at].partition("=")[0]
                lines[at] = f"{key}={draw(st.sampled_from(_HOSTILE_VALUES))}"
            case "delete":
                del lines[at]
            case "repeat":
                lines.insert(at, lines[at])
            case "bytes":
                lines[at] += draw(st.binary(max_size=20)).decode("latin-1")
        if not lines:
            break
    return "\r\n".join(lines).encode("latin-1", "replace")


@_SETTINGS
@given(mutated_notes_ini())
def test_a_mutated_notes_ini_is_read_or_refused_at_its_line(data: bytes) -> None:
    hostile.notes_ini_target(data)


def test_the_fuzzers_crash_inputs_are_kept_as_tests() -> None:
    """Every input the fuzzer (bench/fuzz.py) found a crash with, run again: kept in
    tests/hostile-inputs/<target>/, named by what it found."""
    targets = {
        "frames": hostile.frame_decoder_target,
        "scenario": hostile.scenario_loader_target,
        "notes-ini": hostile.notes_ini_target,
    }
    found = sorted((Path(__file__).parent / "hostile-inputs").glob("*/*"))
    # A glob that matches nothing (the directory moved or renamed) must not pass as "no crash".
    assert len(found) >= 3, f"the kept crash inputs are gone: {found}"
    assert {path.parent.name for path in found} <= targets.keys(), found
    for path in found:
        targets[path.parent.name](path.read_bytes())
