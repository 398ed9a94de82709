"""`billsim verify` end to end: a run of all-classes writes its frames and its summary; a
consumer's bill is made from the summary as REPORT files (docs/verification.md), with
the effect of a frame it missed, a frame it billed twice or a wrong total, each worked
out from the record's own values; verify's exit code and output name what differs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from samples import ALICE, BOB
from typer.testing import CliRunner

from simulator import cli
from simulator.adapters.stores import open_store
from simulator.addin.store import Received, Rejected
from simulator.domino.server import BILL_FIELDS
from simulator.wire.codec import FrameCodec
from simulator.wire.records import AgentRec, Frame, MailRec
from simulator.wire.stream import read_frames

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


@pytest.fixture(scope="module")
def run_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Frame]]:
    """The summary of a run of all-classes, and the frames it wrote."""
    directory = tmp_path_factory.mktemp("run")
    summary, frames = directory / "summary.json", directory / "frames.nbf"
    result = invoke("run", "all-classes", "--out", str(frames), "--summary", str(summary))
    assert result.exit_code == 0, result.stderr
    with frames.open("rb") as stream:
        decoded = [frame for _offset, _data, frame in read_frames(stream, FrameCodec())]
    return summary, decoded


def users_of(summary: Path) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = json.loads(summary.read_text())["users"]
    return users


def write_csv(path: Path, users: dict[str, dict[str, Any]]) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["user", *BILL_FIELDS])
        for user, totals in users.items():
            writer.writerow([user, *(totals[name] for name in BILL_FIELDS)])
    return path


def the_record(frames: list[Frame], kind: type, field: str, user: str) -> Any:
    """The one record of ``kind`` whose ``field`` names ``user``."""
    (rec,) = [f.rec for f in frames if isinstance(f.rec, kind) and getattr(f.rec, field) == user]
    return rec


def run_as_if_on_mqtt(tmp_path: Path, run: str) -> tuple[Path, Path, dict[str, Any]]:
    """all-classes run to `run.nbf`, its summary given the run id `run` as a run on MQTT
    has one: the frames' path, the summary's path and the summary."""
    out = tmp_path / "run.nbf"
    summary = tmp_path / "summary.json"
    assert invoke("run", "all-classes", "--out", str(out), "--summary", str(summary)).exit_code == 0
    truth = json.loads(summary.read_text())
    truth["run"] = run
    summary.write_text(json.dumps(truth))
    return out, summary, truth


def test_a_summary_equals_itself_and_its_csv_export(
    run_files: tuple[Path, list[Frame]], tmp_path: Path
) -> None:
    summary, _ = run_files
    users = users_of(summary)
    assert {ALICE, BOB, "Anonymous", "CN=Hub01/O=Acme"} <= set(users)
    result = invoke("verify", "--expected", str(summary), "--actual", str(summary))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"EQUAL: {len(users)} users, 14 fields each")
    report = write_csv(tmp_path / "report.csv", users)
    result = invoke("verify", "--expected", str(summary), "--actual", str(report))
    assert result.exit_code == 0, result.output


def test_a_missed_frame_names_its_user_and_fields(
    run_files: tuple[Path, list[Frame]], tmp_path: Path
) -> None:
    summary, frames = run_files
    mail = the_record(frames, MailRec, "Originator", ALICE)
    users = users_of(summary)
    users[ALICE]["mail"] -= 1
    users[ALICE]["mail_bytes"] -= mail.MessageSize
    report = write_csv(tmp_path / "missed.csv", users)
    result = invoke("verify", "--expected", str(summary), "--actual", str(report))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["user", "field", "expected", "actual", "difference"]
    expected_mail = users[ALICE]["mail_bytes"] + mail.MessageSize
    assert [" ".join(line.split()) for line in lines[1:3]] == [
        f"{ALICE} mail 1 0 -1",
        f"{ALICE} mail_bytes {expected_mail} 0 -{mail.MessageSize}",
    ]
    assert lines[-1].startswith("DIFFERENT: 2 differences in 1 of")


def test_a_frame_billed_twice_names_its_user_and_fields(
    run_files: tuple[Path, list[Frame]], tmp_path: Path
) -> None:
    summary, frames = run_files
    agent = the_record(frames, AgentRec, "UserName", BOB)
    users = users_of(summary)
    users[BOB]["agents"] += 1
    users[BOB]["agent_time"] += agent.ElapsedRunTime
    report = tmp_path / "doubled.json"
    report.write_text(json.dumps({"users": users}))
    result = invoke(
        "verify", "--expected", str(summary), "--actual", str(report), "--format", "json"
    )
    assert result.exit_code == 1, result.output
    outcome = json.loads(result.stdout)
    assert outcome["equal"] is False
    assert outcome["differences"] == [
        {
            "user": BOB,
            "field": "agents",
            "expected": 1,
            "actual": 2,
            "difference": 1,
            "touched_by": [],
        },
        {
            "user": BOB,
            "field": "agent_time",
            "expected": agent.ElapsedRunTime,
            "actual": 2 * agent.ElapsedRunTime,
            "difference": agent.ElapsedRunTime,
            "touched_by": [],
        },
    ]
    assert outcome["passed"] is False
    assert outcome["explained"] == outcome["faults"] == []
    assert outcome["missing_from_actual"] == outcome["missing_from_expected"] == []


def test_a_wrong_total_and_a_missing_user(
    run_files: tuple[Path, list[Frame]], tmp_path: Path
) -> None:
    summary, _ = run_files
    users = users_of(summary)
    users[BOB]["charges"] += 0.01  # a cent: beyond the half cent allowed
    users[ALICE]["charges"] += 0.004  # within it
    del users["CN=Hub01/O=Acme"]
    report = write_csv(tmp_path / "wrong.csv", users)
    result = invoke("verify", "--expected", str(summary), "--actual", str(report))
    assert result.exit_code == 1, result.output
    rows = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert f"{BOB} charges 0.05 0.06 +0.01" in rows
    assert not any(row.startswith(f"{ALICE} ") for row in rows)
    assert f"missing from {report}: CN=Hub01/O=Acme" in rows
    assert any(
        row.startswith("CN=Hub01/O=Acme replication_bytes_in 135000 0 -135000") for row in rows
    )


def test_one_difference_is_one_in_the_verdict(
    run_files: tuple[Path, list[Frame]], tmp_path: Path
) -> None:
    summary, _ = run_files
    users = users_of(summary)
    users[BOB]["charges"] += 0.01
    report = write_csv(tmp_path / "one.csv", users)
    result = invoke("verify", "--expected", str(summary), "--actual", str(report))
    assert result.stdout.splitlines()[-1].startswith("DIFFERENT: 1 difference in 1 of")


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.csv", "user,sessions\nx,1\n", "bad.csv:1: bytes_in: missing from the header"),
        ("bad.json", '{"users": {\n  "x": [1,\n', "bad.json:3: not JSON"),
        ("empty.csv", "", "empty.csv:1: empty"),
        (
            "long.json",
            '{"users": {\n  "x": {"sessions": ' + "9" * 400 + "}}}",
            "long.json:2: users.x.sessions: a whole number of 400 digits",
        ),
        (
            "long.csv",
            f"user,{','.join(BILL_FIELDS)}\nx,{','.join(['9' * 5001] * 14)}\n",
            "long.csv:2: sessions: a whole number of 5,001 digits",
        ),
        ("twice.json", '{"users": {"x": {}, "x": {}}}', "twice.json: users.x: a key twice"),
    ],
)
def test_a_malformed_report_exits_2_naming_file_and_line(
    run_files: tuple[Path, list[Frame]], tmp_path: Path, name: str, text: str, where: str
) -> None:
    summary, _ = run_files
    report = tmp_path / name
    report.write_text(text)
    for expected, actual in ((summary, report), (report, summary)):
        result = invoke("verify", "--expected", str(expected), "--actual", str(actual))
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.startswith(f"billsim: {tmp_path}/{where}"), result.stderr


def test_an_unreadable_expected_file_or_a_store_exits_2(
    run_files: tuple[Path, list[Frame]], tmp_path: Path
) -> None:
    summary, _ = run_files
    result = invoke("verify", "--expected", str(tmp_path / "nope.json"), "--actual", str(summary))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"billsim: {tmp_path}/nope.json: --expected: No such file")
    missing = tmp_path / "billing.db"
    result = invoke("verify", "--expected", str(summary), "--actual", f"sqlite:///{missing}")
    assert result.exit_code == 2
    assert f"{missing}: no such SQLite store" in result.stderr
    assert not missing.exists()  # verify never creates the store it reads
    result = invoke("verify", "--expected", f"sqlite:///{missing}", "--actual", str(summary))
    assert result.exit_code == 2
    assert "--expected: the ground truth is a REPORT file" in result.stderr
    store = tmp_path / "store.db"  # a store given by its path, not its URL
    store.write_bytes(b"SQLite format 3\x00\xff\xfe" + bytes(100))
    result = invoke("verify", "--expected", str(summary), "--actual", str(store))
    assert result.exit_code == 2
    assert "a store is given by its URL: sqlite:///PATH" in result.stderr
    result = invoke("verify", "--expected", str(store), "--actual", str(summary))
    assert result.exit_code == 2
    assert "so no REPORT" in result.stderr and "store is given" not in result.stderr


def test_a_store_is_verified_by_its_bill_and_the_seq_numbers_of_the_run(tmp_path: Path) -> None:
    """The add-in's store as --actual: what `billsim report` bills from it, and the seq
    numbers of the summary's run that it lacks (a frame withheld) are named."""
    out, summary, _ = run_as_if_on_mqtt(tmp_path, "r1")  # the store's frames carry r1
    decoded = list(read_frames(io.BytesIO(out.read_bytes()), FrameCodec()))
    frames = [data for _, data, _ in decoded]
    store = open_store(f"sqlite:///{tmp_path / 'billing.db'}")
    # Withheld: the first MAILREC, Alice's (her mail count and bytes go wrong).
    withheld = next(seq for seq, (_, _, f) in enumerate(decoded, 1) if isinstance(f.rec, MailRec))
    mail = decoded[withheld - 1][2].rec
    assert isinstance(mail, MailRec) and mail.Originator == "CN=Alice Smith/O=Acme"
    for seq, frame in enumerate(frames, 1):
        if seq != withheld:
            store.add(Received("Mail01", "r1", seq, "t", frame, None, 0))
    store.commit()
    store.close()
    result = invoke("verify", "--expected", str(summary), "--actual", store.url)
    assert result.exit_code == 1
    assert "CN=Alice Smith/O=Acme  mail " in result.stdout
    assert f"Mail01 run r1: seq missing {withheld}" in result.stdout


def test_a_store_that_holds_no_row_of_the_run_lacks_every_seq(tmp_path: Path) -> None:
    """The add-in ran but every frame was lost at the broker: an SQLite store with no
    row (tables made or not) lacks seqs 1..records of the run, and verify names them."""
    _, summary, truth = run_as_if_on_mqtt(tmp_path, "r1")
    records = truth["records"]
    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    empty.close()
    # Tables made: a reject was all the store took (a reject's run is not a frame's).
    rejects_only = open_store(f"sqlite:///{tmp_path / 'rejects.db'}")
    rejects_only.add(Rejected("Mail01", "r1", 1, "t", b"\x01", "truncated", 0))
    rejects_only.commit()
    rejects_only.close()
    for store in (empty, rejects_only):
        result = invoke("verify", "--expected", str(summary), "--actual", store.url)
        assert result.exit_code == 1, result.stdout
        assert f"Mail01 run r1: seq missing 1-{records}" in result.stdout
        as_json = json.loads(
            invoke(
                "verify", "--expected", str(summary), "--actual", store.url, "--format", "json"
            ).stdout
        )
        (seq,) = as_json["seq"]
        assert (seq["server"], seq["run"]) == ("Mail01", "r1")
        assert seq["missing"] == list(range(1, records + 1))


def test_an_nbf_store_keeps_no_run_ids_so_its_seq_numbers_are_not_judged(
    tmp_path: Path,
) -> None:
    """An NBF file holds frames only: against the summary of a run on MQTT (which has a
    run id) its bill is compared, its seq numbers cannot be."""
    out, summary, _ = run_as_if_on_mqtt(tmp_path, "0123456789ab")
    result = invoke("verify", "--expected", str(summary), "--actual", f"nbf:{out}")
    assert result.exit_code == 0, result.stdout
    assert "seq missing" not in result.stdout


def test_a_store_of_frames_without_run_and_seq_is_compared_on_totals_only(
    tmp_path: Path,
) -> None:
    """What an add-in stores on MQTT 3.1.1 without --topic-meta: every frame, with no run
    and seq. verify cannot name a missing or doubled frame: it says so, per server, and
    judges the totals alone (its JSON says `totals_only` and counts them); a store where
    one server's frames have keys and another's do not has that server's seq judged."""
    out, summary, _ = run_as_if_on_mqtt(tmp_path, "r1")
    frames = [data for _, data, _ in read_frames(io.BytesIO(out.read_bytes()), FrameCodec())]
    store = open_store(f"sqlite:///{tmp_path / 'billing.db'}")
    for frame in frames[1:]:  # the first frame never arrived: only the totals can tell
        store.add(Received("Mail01", None, None, "t", frame, None, 0))
    store.commit()
    store.close()
    result = invoke("verify", "--expected", str(summary), "--actual", store.url)
    lines = result.stdout.splitlines()
    assert f"Mail01: {len(frames) - 1} frames in {store.url} have no run and seq" in result.stdout
    assert "seq missing" not in result.stdout
    assert lines[-1].endswith(f"(totals only: {len(frames) - 1} frames without run and seq)")
    as_json = json.loads(
        invoke(
            "verify", "--expected", str(summary), "--actual", store.url, "--format", "json"
        ).stdout
    )
    assert as_json["totals_only"] is True
    assert as_json["without_seq"] == {"Mail01": len(frames) - 1}
    assert as_json["seq"] == []
    # With keys, the same store names the missing frame (and is no longer totals only).
    keyed = open_store(f"sqlite:///{tmp_path / 'keyed.db'}")
    for seq, frame in enumerate(frames[1:], 2):
        keyed.add(Received("Mail01", "r1", seq, "t", frame, None, 0))
    keyed.commit()
    keyed.close()
    result = invoke("verify", "--expected", str(summary), "--actual", keyed.url, "--format", "json")
    outcome = json.loads(result.stdout)
    assert (outcome["totals_only"], outcome["without_seq"]) == (False, {})
    assert outcome["seq"][0]["missing"] == [1]
