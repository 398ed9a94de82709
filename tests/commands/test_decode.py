"""`billsim decode`: frames back to back to JSON lines, through the real command line."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from paths import REPO
from samples import RECORDS, SERVER, STAMP
from typer.testing import CliRunner

from simulator import cli
from simulator.adapters.sinks import JsonLinesSink
from simulator.commands.decode import decode_stream
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame, frame_from_json
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import Frame, RawRec, SessionID, SessionRec
from simulator.wire.stream import iter_decoded

LAYOUTS = [Layout.LINUX_X86_64, Layout.WIN32]
runner = CliRunner()


def encode_all(layout: Layout, framing: Framing = Framing.PAD_UNION) -> list[bytes]:
    codec = FrameCodec(layout, framing)
    # One frame of each built-in kind, variable data included (and a name not in ASCII).
    return [codec.encode_record(rec, SERVER, STAMP) for rec in RECORDS.values()]


def raw_frame(layout: Layout, struct_type: int, payload: bytes = b"\x01\x02\x03") -> bytes:
    codec = FrameCodec(layout)
    return codec.encode(Frame(struct_type, c.BILL_CLASS_DATABASE, SERVER, STAMP, RawRec(payload)))


def set_word(frame: bytes, offset: int, value: int) -> bytes:
    return frame[:offset] + struct.pack("<H", value) + frame[offset + 2 :]


def field_offset(layout: Layout, struct_type: int, name: str) -> int:
    kind_codec = FrameCodec(layout).by_struct_type[struct_type]
    return kind_codec.rec_offset + kind_codec.record.offsets[name]


def decode(path_or_dash: str, *args: str, stdin: bytes | None = None) -> Any:
    return runner.invoke(cli.app, ["decode", path_or_dash, *args], input=stdin)


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "frames.nbf"
    path.write_bytes(data)
    return str(path)


def test_version_is_the_distributions() -> None:
    result = runner.invoke(cli.app, ["--version"])
    assert result.exit_code == 0
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert result.stdout.strip() == f"billsim {project['version']}"


@pytest.mark.parametrize("framing", [Framing.PAD_UNION, Framing.COMPACT])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_kind_round_trips_through_decode(
    tmp_path: Path, layout: Layout, framing: Framing
) -> None:
    frames = [*encode_all(layout, framing), raw_frame(layout, c.CUSTOM_STRUCT_TYPE_MIN)]
    result = decode(write(tmp_path, b"".join(frames)), "--layout", layout.value)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    objs = lines(result.stdout)
    codec = FrameCodec(layout, framing)
    to_json = JsonDecoder(codec)
    assert [obj["seq"] for obj in objs] == list(range(1, len(frames) + 1))
    for seq, (obj, frame) in enumerate(zip(objs, frames, strict=True), 1):
        assert obj == to_json(frame, 0, seq)
        assert codec.encode(frame_from_json(codec, obj)) == frame
    # A custom type with no scenario to name it: the header and the raw bytes, silently.
    assert objs[-1]["rec"] == {"raw": "010203"}
    assert objs[-1]["StructType"] == c.CUSTOM_STRUCT_TYPE_MIN


def test_output_is_compact_json_one_line_per_frame(tmp_path: Path) -> None:
    result = decode(write(tmp_path, encode_all(Layout.LINUX_X86_64)[0]))
    assert result.stdout.startswith('{"Len":1000,"StructType":1,"Class":1,')
    assert result.stdout.endswith(',"seq":1}\n')
    assert " " not in result.stdout.replace("Alice Smith", "")


def test_stdin(tmp_path: Path) -> None:
    frames = encode_all(Layout.WIN32)
    result = decode("-", "--layout", "win32", stdin=b"".join(frames))
    assert result.exit_code == 0, result.stderr
    assert [obj["StructType"] for obj in lines(result.stdout)] == [
        c.BILL_SESSIONREC,
        c.BILL_DBREC,
        c.BILL_REPLREC,
        c.BILL_DOCCHARGE,
        c.BILL_MAILREC,
        c.BILL_AGENTREC,
        c.BILL_HTTPREQREC,
    ]


def test_empty_input_is_no_frames(tmp_path: Path) -> None:
    for result in (decode("-", stdin=b""), decode(write(tmp_path, b""))):
        assert result.exit_code == 2
        assert result.stdout == ""
        assert "no frames" in result.stderr


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.nbf"
    result = decode(str(missing))
    assert result.exit_code == 2
    assert result.stderr == f"billsim: {missing}: cannot read: No such file or directory\n"


def test_unknown_layout_is_a_usage_error(tmp_path: Path) -> None:
    result = decode(write(tmp_path, b""), "--layout", "vax")
    assert result.exit_code == 2


def _corruptions() -> list[Any]:
    """The bytes after two good frames, and what the error says; a good frame follows.

    A truncation ends the stream; other faults are followed by a good frame. A frame that
    breaks the framing (a stream cut inside it, a Len out of range) stops the decoding;
    one whose Len frames it but whose record cannot be read (`record` ids) is written as
    header + raw, and the decoding goes on.
    """
    L = Layout.LINUX_X86_64
    sess = encode_all(L)[0]
    csess, _, _, _, cmail, cagent, chttp = encode_all(L, Framing.COMPACT)
    mail_size = field_offset(L, c.BILL_MAILREC, "RecipientSize")
    ulen = field_offset(L, c.BILL_AGENTREC, "ULen")
    referer = field_offset(L, c.BILL_HTTPREQREC, "HttpRefererOffset")
    return [
        pytest.param(
            sess[:500], "truncated frame: Len is 1000 but the stream ends after 500", id="truncated"
        ),
        pytest.param(
            sess[:1], "truncated frame: the stream ends inside Len", id="truncated-in-len"
        ),
        pytest.param(
            set_word(sess, 0, 100),
            "Len 100 is smaller than the BILLMSG header (276)",
            id="len-below-header",
        ),
        pytest.param(
            set_word(sess, 0, 3), "Len 3 is smaller than the BILLMSG header", id="len-tiny"
        ),
        pytest.param(
            set_word(sess, 0, 65535), "Len 65535 exceeds MQ_MAX_MSGSIZE (65342)", id="len-above-max"
        ),
        pytest.param(
            set_word(csess, 0, 300)[:300],
            "Len 300 is smaller than a SESSIONREC frame (616)",
            id="record-len-below-struct",
        ),
        pytest.param(
            set_word(cmail, mail_size, 2000), "RecipientSize", id="record-mail-recipients-past-len"
        ),
        pytest.param(
            set_word(cagent, ulen, 500), "ULen + TLen + DLen", id="record-agent-names-past-len"
        ),
        pytest.param(
            set_word(chttp, referer, 2000),
            "HttpRefererOffset 2000 points past",
            id="record-http-offset-past-end",
        ),
        pytest.param(
            chttp[:-1] + b"x",
            "has no NUL before the frame's end",
            id="record-http-string-without-nul",
        ),
    ]


def _framing(params: list[Any], *, record: bool) -> list[Any]:
    return [p for p in params if p.id.startswith("record-") == record]


@pytest.mark.parametrize(("bad", "message"), _framing(_corruptions(), record=False))
def test_corrupt_frame_stops_with_its_offset(tmp_path: Path, bad: bytes, message: str) -> None:
    good = encode_all(Layout.LINUX_X86_64)[:2]
    tail = bad if message.startswith("truncated") else bad + good[0]
    path = write(tmp_path, b"".join(good) + tail)
    result = decode(path)
    assert result.exit_code == 2
    assert [obj["seq"] for obj in lines(result.stdout)] == [1, 2]  # frames before the fault
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"billsim: {path}: byte offset 2000 (frame 3): ")
    assert message in result.stderr


@pytest.mark.parametrize(("bad", "message"), _framing(_corruptions(), record=True))
def test_a_frame_whose_record_cannot_be_read_is_written_raw_and_decoding_goes_on(
    tmp_path: Path, bad: bytes, message: str
) -> None:
    """A cut or damaged frame (the `truncate` fault's) whose Len still frames it: written
    as header + raw, as `run --stdout` writes it, named, and the next frame decoded."""
    good = encode_all(Layout.LINUX_X86_64)[:2]
    path = write(tmp_path, b"".join(good) + bad + good[0])
    result = decode(path)
    assert result.exit_code == 2
    objs = lines(result.stdout)
    assert [obj["seq"] for obj in objs] == [1, 2, 3, 4]
    assert objs[2]["rec"] == {"raw": bad[276:].hex()}  # the bytes after the header
    assert objs[2]["Len"] == len(bad)
    assert objs[3]["rec"] == objs[0]["rec"]
    first, last = result.stderr.splitlines()
    assert first.startswith(f"billsim: {path}: byte offset 2000 (frame 3): ")
    assert message in first and first.endswith("a cut or damaged frame, written as header + raw")
    assert last.startswith(f"billsim: {path}: 1 frame could not be read as their struct type")
    assert "(the first: frame 3 at byte offset 2000: " in last


def test_a_truncate_faults_frames_decode_alike_from_out_and_stdout(tmp_path: Path) -> None:
    """`decode` of a `--out` stream with cut frames writes what `run --stdout` wrote, and
    reads those JSON lines back to the same lines (it once ended in a traceback)."""
    nbf = tmp_path / "cut.nbf"
    fault = ["--fault", "truncate=0.2", "--scenario", "all-classes"]
    ran = runner.invoke(cli.app, ["run", "all-classes", "--out", str(nbf), *fault[:2]])
    assert ran.exit_code == 0, ran.output
    stdout = runner.invoke(cli.app, ["run", "all-classes", "--stdout", *fault[:2]])
    jsonl = tmp_path / "cut.jsonl"
    jsonl.write_text(stdout.stdout)
    assert '"raw"' in stdout.stdout
    from_out = runner.invoke(cli.app, ["decode", str(nbf), *fault[2:]])
    from_json = runner.invoke(cli.app, ["decode", str(jsonl), *fault[2:]])
    assert from_out.exit_code == from_json.exit_code == 2
    assert from_out.stdout == from_json.stdout == stdout.stdout
    assert "could not be read as their struct type" in from_json.stderr


def test_len_shorter_than_written_is_caught_at_the_next_frame(tmp_path: Path) -> None:
    # A DBREC whose Len says 900 of its 1000 bytes: the next frame starts at its byte 900.
    sess, db = encode_all(Layout.LINUX_X86_64)[:2]
    path = write(tmp_path, sess + set_word(db, 0, 900) + sess)
    result = decode(path)
    assert result.exit_code == 2
    assert [obj["seq"] for obj in lines(result.stdout)] == [1, 2]
    assert "byte offset 1900 (frame 3)" in result.stderr


def test_unknown_struct_type_is_written_reported_and_decoding_goes_on(tmp_path: Path) -> None:
    sess, db = encode_all(Layout.LINUX_X86_64)[:2]
    unknown = raw_frame(Layout.LINUX_X86_64, 7, b"\xab" * 10)
    path = write(tmp_path, sess + unknown + db + unknown)
    result = decode(path)
    assert result.exit_code == 2
    objs = lines(result.stdout)
    assert [obj["seq"] for obj in objs] == [1, 2, 3, 4]
    assert objs[1]["StructType"] == 7
    assert objs[1]["rec"] == {"raw": "ab" * 10}
    assert objs[2]["rec"]["DBOpenTime"] == 123_456  # the sample DBREC's
    second = 1000 + len(unknown) + 1000
    assert result.stderr.splitlines() == [
        f"billsim: {path}: byte offset 1000 (frame 2): unknown struct type 7, "
        "written as header + raw",
        f"billsim: {path}: byte offset {second} (frame 4): unknown struct type 7, "
        "written as header + raw",
        f"billsim: {path}: 2 frames have an unknown struct type "
        "(the first: 7, frame 2 at byte offset 1000)",
    ]


def test_json_lines_of_a_custom_type_not_declared_are_written_as_given(tmp_path: Path) -> None:
    # As a custom record in binary frames is shown without --scenario (as raw): its
    # fields by name cannot be laid out into bytes, so they are kept as the line has them.
    sess = JsonDecoder(FrameCodec())(encode_all(Layout.LINUX_X86_64)[0], 0, 1)
    custom = {"Username": "CN=Bob Jones/O=Acme", "dbNoteID": 8442}
    given = [
        {**sess, "seq": 1},
        {**sess, "StructType": 32001, "Class": 16, "rec": custom, "seq": 2},
        {**sess, "StructType": 999, "rec": custom, "seq": 3},
    ]
    path = tmp_path / "custom.jsonl"
    path.write_text("".join(json.dumps(obj) + "\n" for obj in given))
    result = decode(str(path))
    assert lines(result.stdout) == given
    # Only the type outside the custom range is reported (exit 2 at the end).
    assert result.exit_code == 2
    assert "line 3 (frame 3): unknown struct type 999, written as the line gives it" in (
        result.stderr
    )
    assert "line 2" not in result.stderr
    text = decode(str(path), "--format", "text").stdout.splitlines()
    assert "type 32001" in text[2] and "dbNoteID 8442" in text[2]
    path.write_text(json.dumps({**given[1], "rec": [1]}) + "\n")
    result = decode(str(path))
    assert result.exit_code == 2 and f"{path}:1: rec: expected an object" in result.stderr


class Trickle(io.RawIOBase):
    """A stream handing out a few bytes per read, counting how many it has given."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.step = step
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data[self.given : self.given + min(self.step, len(buffer))]
        buffer[: len(chunk)] = chunk
        self.given += len(chunk)
        return len(chunk)


@pytest.mark.parametrize("step", [1, 7, 999, 1000, 4096])
def test_decoding_streams(step: int) -> None:
    frames = encode_all(Layout.LINUX_X86_64) * 30
    stream = Trickle(b"".join(frames), step)
    decoder = JsonDecoder(FrameCodec())
    decoded = iter_decoded(stream, decoder)  # type: ignore[arg-type]
    first = next(decoded)
    assert stream.given < 2 * 1000 + step  # the first frame comes before the rest is read
    rest = list(decoded)
    assert [first.seq, *(d.seq for d in rest)] == list(range(1, len(frames) + 1))
    offsets = [0]
    for frame in frames[:-1]:
        offsets.append(offsets[-1] + len(frame))
    assert [first.offset, *(d.offset for d in rest)] == offsets


def test_main_turns_errors_into_one_line_and_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["decode", str(tmp_path / "missing.nbf")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"billsim: {tmp_path / 'missing.nbf'}: cannot read: No such file or directory\n"


def _python_m_simulator(*args: str, stdin: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", *args],
        cwd=REPO,
        env=env,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_python_m_simulator_decode(tmp_path: Path) -> None:
    frames = encode_all(Layout.LINUX_X86_64)
    path = write(tmp_path, b"".join(frames) + frames[0][:10])
    process = _python_m_simulator("decode", path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert len(out.splitlines()) == len(frames)
    offset = sum(map(len, frames))
    assert err.decode() == (
        f"billsim: {path}: byte offset {offset} (frame 8): "
        f"truncated frame: Len is 1000 but the stream ends after 10 bytes\n"
    )


def test_python_m_simulator_decode_stdin_into_a_closed_pipe(tmp_path: Path) -> None:
    # `billsim decode - < frames.nbf | head -1`: the reader goes away; billsim exits quietly.
    path = write(tmp_path, b"".join(encode_all(Layout.LINUX_X86_64)) * 2000)
    with open(path, "rb") as stdin:
        process = _python_m_simulator("decode", "-", stdin=stdin)
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()
    assert json.loads(first)["seq"] == 1
    process.wait(timeout=60)
    assert process.stderr is not None
    assert process.stderr.read() == b""
    assert process.returncode == 0


# --- one JSON text of a frame, whoever writes it -------------------------------------------

ZOE = "CN=Zoë Ångström/O=Acme"

UNICODE_SCENARIO = f"""\
name: unicode
start: "2026-11-21T09:00:00Z"
duration: 30m
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Mail"}}
databases:
  mail/zoe.nsf: {{replica_id: "85258A3B:0052C1F0"}}
users:
  zoe: {{name: "{ZOE}", address: "10.0.0.7"}}
script:
  - {{at: 0m, user: zoe, action: open, db: mail/zoe.nsf}}
  - {{at: 1m, action: mail, from: zoe, to: ["CN=李雷/O=Acme", "CN=Jürgen/O=Acme"]}}
  - {{at: 5m, user: zoe, action: logout}}
"""


def test_run_stdout_and_decode_write_a_frame_as_the_same_line(tmp_path: Path) -> None:
    scenario = tmp_path / "unicode.yaml"
    scenario.write_text(UNICODE_SCENARIO, encoding="utf-8")
    out = tmp_path / "run.nbf"
    stdout = runner.invoke(cli.app, ["run", str(scenario), "--stdout"])
    assert stdout.exit_code == 0, stdout.stderr
    ran = runner.invoke(cli.app, ["run", str(scenario), "--out", str(out)])
    assert ran.exit_code == 0, ran.stderr
    decoded = decode(str(out))
    assert decoded.exit_code == 0, decoded.stderr
    assert len(stdout.stdout.splitlines()) >= 4
    assert decoded.stdout == stdout.stdout
    # UTF-8 as written, not \u escapes: JSON is UTF-8.
    assert f'"Username":"{ZOE}"' in decoded.stdout
    assert '"CN=李雷/O=Acme"' in decoded.stdout
    assert "\\u" not in decoded.stdout


def test_sink_decode_and_tail_lines_agree_and_keep_undecodable_bytes(tmp_path: Path) -> None:
    codec = FrameCodec(Layout.LINUX_X86_64)
    # b"\xff" is not UTF-8: it decodes to the lone surrogate "\udcff" (surrogateescape).
    rec = SessionRec(SessionID(1, 1), c.BILL_SESSION_START, "CN=Zoë \udcff/O=Acme", 1, 2, "x")
    frame = codec.encode_record(rec, SERVER, STAMP)
    assert b"\xc3\xab \xff/" in frame

    sink_out = io.StringIO()
    JsonLinesSink(sink_out, codec).write_batch([(1, frame)])
    decode_out = io.StringIO()
    decode_stream(io.BytesIO(frame), decode_out)
    tail_line = dumps_frame(JsonDecoder(codec)(frame, 0, 1)) + "\n"
    assert sink_out.getvalue() == decode_out.getvalue() == tail_line

    line = decode_out.getvalue()
    assert '"Username":"CN=Zoë \\udcff/O=Acme"' in line
    line.encode("utf-8")  # writable to any UTF-8 stream, a pipe or an MQTT payload
    assert codec.encode(frame_from_json(codec, json.loads(line))) == frame
