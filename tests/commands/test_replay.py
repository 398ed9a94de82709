"""`billsim replay` to a file (no broker): byte-identical when nothing is asked, every time
of every record type moved by --rebase with `check` clean, --loop passes renumbered and
clean, --server-name, the --summary bill, and bad input named (exit 2). Replays to MQTT,
with `record` and the add-in, are in test_record.py."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from samples import FRAMES
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.replay import ReplayRequest, SentLedger, plan_replay, play
from simulator.domino.billing import SequencedFrame
from simulator.scenario.speed import Speed
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.timedate import TimeDate, format_timedate, parse_timedate, shift_timedate

runner = CliRunner()
CODEC = FrameCodec()
TO_JSON = JsonDecoder(CODEC)
DAY = 8_640_000  # hundredths


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """all-classes (every record type, a custom one too) as run --out writes it, and its
    summary."""
    directory = tmp_path_factory.mktemp("recorded")
    out, summary = directory / "all.nbf", directory / "summary.json"
    result = invoke("run", "all-classes", "--out", str(out), "--summary", str(summary))
    assert result.exit_code == 0, result.output
    return out, json.loads(summary.read_text())


def frames(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    out, at, seq = [], 0, 0
    while at < len(data):
        seq += 1
        obj = TO_JSON(data, at, seq)
        out.append(obj)
        at += obj["Len"]
    return out


def check(path: Path) -> Any:
    return invoke("check", str(path), "--scenario", "all-classes")


def moved(obj: dict[str, Any], ticks: int) -> dict[str, Any]:
    """The JSON form with every time docs/wire-format.md names moved (an oracle of its own:
    header TimeStamp, MAILREC PostedDate, OriginatorID SequenceTime, the HTTP string)."""
    out: dict[str, Any] = json.loads(json.dumps(obj))

    def move(text: str) -> str:
        return format_timedate(shift_timedate(parse_timedate(text), ticks))

    out["TimeStamp"] = move(out["TimeStamp"])
    rec = out["rec"]
    if "PostedDate" in rec:
        rec["PostedDate"] = move(rec["PostedDate"])
    if isinstance(rec.get("OriginatorID"), dict):
        rec["OriginatorID"]["SequenceTime"] = move(rec["OriginatorID"]["SequenceTime"])
    if obj["StructType"] == 6001:
        assert rec["TimeStamp"].startswith("23/Nov/2026:") and ticks == 100 * DAY, "by hand"
        rec["TimeStamp"] = rec["TimeStamp"].replace("23/Nov/2026", "03/Mar/2027")
    return out


def test_a_replay_to_a_file_asking_nothing_is_byte_identical(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    nbf, _ = recorded
    out = tmp_path / "again.nbf"
    result = invoke("replay", str(nbf), "--out", str(out), "--speed", "max")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == nbf.read_bytes()
    assert "replayed 21 frames" in result.stderr


def test_rebase_moves_every_time_of_every_record_type_and_check_stays_clean(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    nbf, _ = recorded
    first = frames(nbf)[0]["TimeStamp"]
    target = format_timedate(shift_timedate(parse_timedate(first), 100 * DAY))
    out = tmp_path / "rebased.nbf"
    result = invoke("replay", str(nbf), "--out", str(out), "--rebase", target.replace(".00Z", "Z"))
    assert result.exit_code == 0, result.output
    before, after = frames(nbf), frames(out)
    assert {obj["StructType"] for obj in before} == {1, 1001, 2001, 3001, 4001, 5001, 6001, 32001}
    assert after[0]["TimeStamp"] == target
    assert after == [moved(obj, 100 * DAY) for obj in before]
    clean = check(out)
    assert clean.exit_code == 0 and "no violations" in clean.stdout, clean.stdout
    # ... and back again: the same bytes, so nothing but the times was touched.
    back = tmp_path / "back.nbf"
    assert invoke("replay", str(out), "--out", str(back), "--rebase", first).exit_code == 0
    assert back.read_bytes() == nbf.read_bytes()


def test_loop_passes_follow_each_other_renumbered_and_clean(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    nbf, original = recorded
    out, summary = tmp_path / "looped.nbf", tmp_path / "summary.json"
    result = invoke("replay", str(nbf), "--out", str(out), "--loop", "3", "--summary", str(summary))
    assert result.exit_code == 0, result.output
    passes = frames(out)
    assert len(passes) == 63
    one, two, three = passes[:21], passes[21:42], passes[42:]
    span = 29 * 60 * 100  # all-classes writes from 08:01 to 08:30
    assert [obj["TimeStamp"] for obj in one] == [obj["TimeStamp"] for obj in frames(nbf)]
    assert [obj["TimeStamp"] for obj in three] == [
        format_timedate(shift_timedate(parse_timedate(obj["TimeStamp"]), 2 * span)) for obj in one
    ]

    def session_ids(objs: list[dict[str, Any]]) -> list[tuple[int, int]]:
        return [
            (o["rec"]["SessionID"]["Index"], o["rec"]["SessionID"]["SeqNo"])
            for o in objs
            if "SessionID" in o["rec"]
        ]

    # Slot 1 went up to SeqNo 2 in the run, slot 2 to 1: each pass moves on by as much.
    assert {sid for sid in session_ids(one)} == {(1, 1), (1, 2), (2, 1)}
    assert {sid for sid in session_ids(two)} == {(1, 3), (1, 4), (2, 2)}
    assert {sid for sid in session_ids(three)} == {(1, 5), (1, 6), (2, 3)}
    mail_ids = {
        json.dumps(o["rec"]["OriginatorID"]["File"]) for o in passes if o["StructType"] == 3001
    }
    assert len(mail_ids) == 2 * 3  # two messages, new in each pass
    clean = check(out)
    assert clean.exit_code == 0 and "6 sessions, no violations" in clean.stdout, clean.stdout
    # The bill of what was sent: three times the run's, as a store of it bills it.
    written = json.loads(summary.read_text())
    assert (written["passes"], written["frames"], written["records"]) == (3, 63, 63)
    for user, totals in original["users"].items():
        assert written["users"][user] == {
            field: pytest.approx(3 * value) for field, value in totals.items()
        }
    report = tmp_path / "report.json"
    report.write_text(invoke("report", f"nbf:{out}", "--format", "json").stdout)
    verified = invoke("verify", "--expected", str(summary), "--actual", str(report))
    assert verified.exit_code == 0, verified.stdout


def test_each_pass_renumbers_seq_and_keeps_the_run(
    recorded: tuple[Path, dict[str, Any]],
) -> None:
    nbf, _ = recorded
    request = ReplayRequest(source=str(nbf), loop="3")
    plan = plan_replay(request, CODEC)
    sent: list[tuple[tuple[str, str], int]] = []

    async def put(group: tuple[str, str], item: SequencedFrame) -> None:
        sent.append((group, item[0]))

    ledger = SentLedger(None)
    asyncio.run(play(request, plan, 3, put, ledger, asyncio.Event(), Speed(None)))
    assert [seq for _, seq in sent] == list(range(1, 64))
    assert {group for group, _ in sent} == {("Mail01", plan.new_run)}
    assert (ledger.passes, ledger.frames, ledger.seqs) == (3, 63, {("Mail01", plan.new_run): 63})


def test_frames_a_full_queue_refuses_wait_their_turn_in_order(
    recorded: tuple[Path, dict[str, Any]],
) -> None:
    """At max speed a frame goes straight in when its queue has room (`offer`), and by
    `put`, which waits, when it has none: every frame once, in order, either way."""
    nbf, _ = recorded
    request = ReplayRequest(source=str(nbf), loop="2")
    plan = plan_replay(request, CODEC)
    offered: list[int] = []
    put: list[int] = []
    order: list[int] = []

    def offer(_group: tuple[str, str], item: SequencedFrame) -> bool:
        if item[0] % 3 == 0:
            return False  # full
        offered.append(item[0])
        order.append(item[0])
        return True

    async def wait_for_room(_group: tuple[str, str], item: SequencedFrame) -> None:
        await asyncio.sleep(0)
        put.append(item[0])
        order.append(item[0])

    ledger = SentLedger(None)
    asyncio.run(play(request, plan, 2, wait_for_room, ledger, asyncio.Event(), Speed(None), offer))
    assert order == list(range(1, 43))
    assert put == list(range(3, 43, 3)) and len(offered) == 42 - len(put)
    assert ledger.frames == 42


def test_server_name_renames_the_server_and_its_fields(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    nbf, _ = recorded
    out = tmp_path / "renamed.nbf"
    result = invoke("replay", str(nbf), "--out", str(out), "--server-name", "CN=Mail77/O=Acme")
    assert result.exit_code == 0, result.output
    renamed = frames(out)
    assert {obj["ServerName"] for obj in renamed} == {"CN=Mail77/O=Acme"}
    replications = [obj["rec"] for obj in renamed if obj["StructType"] == 1001]
    assert {(r["Source"], r["Destination"]) for r in replications} == {
        ("CN=Hub01/O=Acme", "CN=Mail77/O=Acme")
    }
    assert check(out).exit_code == 0


def _with_server_byte(nbf: Path, tmp_path: Path, byte: int) -> Path:
    """The stream with the first byte of its server's common name replaced."""
    data = bytearray(nbf.read_bytes())
    at = 0
    while (at := data.find(b"CN=Mail01/", at)) >= 0:
        data[at + 3] = byte
        at += 1
    out = tmp_path / "odd-server.nbf"
    out.write_bytes(bytes(data))
    return out


def test_a_server_name_byte_that_is_not_utf8_is_shown_escaped_in_the_summary(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """`--summary` writes the server as `\\udcXX`, as decode and check show it: writing
    the raw byte once ended the replay in a traceback (found by the hostile tests)."""
    nbf = _with_server_byte(recorded[0], tmp_path, 0x80)
    summary = tmp_path / "summary.json"
    out = tmp_path / "x.nbf"
    result = invoke("replay", str(nbf), "--out", str(out), "--summary", str(summary))
    assert result.exit_code == 0, result.output
    written = json.loads(summary.read_text(encoding="utf-8"))
    assert written["server"] == "\\udc80ail01"
    assert "(\\udc80ail01 run " in result.stderr
    assert out.read_bytes() == nbf.read_bytes()  # the frames themselves go as they came


@pytest.mark.parametrize("byte", [0x80, ord("+"), ord("#")])
def test_a_server_that_cannot_be_a_topic_level_is_refused_before_mqtt(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path, byte: int
) -> None:
    """On MQTT the server's common name is a topic level: one that cannot be is refused
    (exit 2, the file and --server-name named) before any connection is tried."""
    nbf = _with_server_byte(recorded[0], tmp_path, byte)
    result = invoke("replay", str(nbf), "--broker", "mqtt://127.0.0.1:9", "--speed", "max")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"billsim: {nbf}: --server-name: its server "), result.stderr
    assert "cannot be a level of an MQTT topic" in result.stderr
    renamed = tmp_path / "renamed.nbf"
    result = invoke("replay", str(nbf), "--out", str(renamed), "--server-name", "CN=Mail02/O=Acme")
    assert result.exit_code == 0, result.output


def write_capture(path: Path, *topics: str) -> None:
    frame = base64.b64encode(CODEC.encode(FRAMES["SESSIONREC"])).decode()
    path.write_text(
        "".join(
            json.dumps({"at": 0, "topic": topic, "seq": n, "frame": frame, "props": {}}) + "\n"
            for n, topic in enumerate(topics, 1)
        )
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loop", "0"], "--loop: a number of passes (1 or more) or forever, not '0'"),
        (["--rebase", "soon"], "--rebase: expected an ISO-8601 time"),
        (["--server-name", "CN=a+b/O=x"], "--server-name: server common name"),
        (["--speed", "fast"], "--speed: speed must be max, realtime or Nx"),
        (["--broker", "mqtt://127.0.0.1:9"], "choose one of --out and --broker"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path, args: list[str], message: str | None
) -> None:
    nbf, _ = recorded
    result = invoke("replay", str(nbf), "--out", str(tmp_path / "x.nbf"), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr


def test_a_rebase_that_moves_a_frame_before_the_calendar_names_it_and_the_option(
    tmp_path: Path,
) -> None:
    # A frame from long before the first: a clock set back by 4,700 years, say.
    later, earlier = FRAMES["SESSIONREC"], FRAMES["DBREC"]._replace(TimeStamp=TimeDate(0, 1000))
    nbf = tmp_path / "stepped.nbf"
    nbf.write_bytes(CODEC.encode(later) + CODEC.encode(earlier))
    out = tmp_path / "x.nbf"
    result = invoke("replay", str(nbf), "--out", str(out), "--rebase", "0001-01-01T00:00:00Z")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"billsim: {nbf}: --rebase: byte offset 1000 (frame 2): TimeStamp "
    ), result.stderr
    assert "out of TIMEDATE range" in result.stderr


def _an_hour_apart(tmp_path: Path) -> Path:
    """Two frames whose TimeStamps are an hour apart: a pass spans an hour."""
    first = FRAMES["SESSIONREC"]
    later = FRAMES["DBREC"]._replace(TimeStamp=shift_timedate(first.TimeStamp, 3600 * 100))
    nbf = tmp_path / "hour.nbf"
    nbf.write_bytes(CODEC.encode(first) + CODEC.encode(later))
    return nbf


def test_a_rebase_past_the_year_9999_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    nbf, out, summary = _an_hour_apart(tmp_path), tmp_path / "x.nbf", tmp_path / "s.json"
    result = invoke(
        "replay", str(nbf), "--out", str(out), "--summary", str(summary),
        "--rebase", "9999-12-31T23:59:00Z",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(
        f"billsim: {nbf}: --rebase: byte offset 1000 (frame 2): its TimeStamp "
    ), result.stderr
    assert "after the end of the year 9999, which no billsim tool reads back" in result.stderr
    assert not out.exists() and not summary.exists()


def test_loop_passes_past_the_year_9999_are_refused_naming_how_many_fit(
    tmp_path: Path,
) -> None:
    # The second frame at 21:59, 22:59, 23:59 in three passes; a fourth at 00:59 in 10000.
    nbf, out = _an_hour_apart(tmp_path), tmp_path / "x.nbf"
    rebase = ["--rebase", "9999-12-31T20:59:00Z"]
    result = invoke("replay", str(nbf), "--out", str(out), *rebase, "--loop", "4")
    assert result.exit_code == 2, result.output
    assert f"billsim: {nbf}: --loop: pass 4 would move the frame at byte offset 1000" in (
        result.stderr
    )
    assert "at most 3 pass(es) fit" in result.stderr and not out.exists()
    assert invoke("replay", str(nbf), "--out", str(out), *rebase, "--loop", "3").exit_code == 0


def _give_up(_signum: int, _frame: object) -> None:
    raise TimeoutError("replay --loop forever did not stop at the year 9999")


def test_loop_forever_stops_at_the_last_pass_before_the_year_10000(tmp_path: Path) -> None:
    nbf, out, summary = _an_hour_apart(tmp_path), tmp_path / "x.nbf", tmp_path / "s.json"
    # Without the stop it would play on for hundreds of millions of passes: fail, not hang.
    previous = signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(60)
    try:
        result = invoke(
            "replay", str(nbf), "--out", str(out), "--summary", str(summary),
            "--rebase", "9999-12-31T20:59:00Z", "--loop", "forever",
        )  # fmt: skip
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.exit_code == 2, result.output
    assert "--loop: pass 4 would move the frame at byte offset 1000" in result.stderr
    assert "stopped after 3 whole pass(es)" in result.stderr
    # The passes that fit are whole, in the file and the summary, and read back.
    assert len(frames(out)) == 6
    assert json.loads(summary.read_text())["passes"] == 3
    assert invoke("report", f"nbf:{out}").exit_code == 0


def test_bad_files_exit_2_naming_file_line_and_key(tmp_path: Path) -> None:
    result = invoke("replay", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "nope.jsonl: cannot read: No such file" in result.stderr
    capture = tmp_path / "bad.jsonl"
    capture.write_text('{"at": 0, "topic": "domino/billing/Mail01/session", "frame": "!"}\n')
    result = invoke("replay", str(capture), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert f"billsim: {capture}:1: frame: not base64" in result.stderr
    assert invoke("replay", "-", "--out", str(tmp_path / "x")).exit_code == 2
    two = tmp_path / "two.jsonl"
    write_capture(two, "domino/billing/Mail01/session", "domino/billing/Mail02/session")
    result = invoke("replay", str(two), "--out", str(tmp_path / "x"), "--server-name", "CN=X/O=Y")
    assert result.exit_code == 2 and "more than one server (Mail01, Mail02)" in result.stderr
