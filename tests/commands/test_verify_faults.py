"""`billsim verify` with a summary that lists injected faults (docs/verification.md): the
differences the faults explain printed apart from the consumer's, each naming its fault
and seq numbers, exit 0 only when every difference is explained.

The faults are written into a run of all-classes by hand, to the contract of the
summary's `faults` (each touched seq with the user and bill fields its frame carries,
read off the frames here); the consumer's bill is a store written from the run's frames
(SQLite, PostgreSQL, NBF), or a REPORT file made from the summary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from samples import ALICE, BOB, SERVER
from typer.testing import CliRunner

from simulator import cli
from simulator.adapters.stores import open_store
from simulator.addin.store import Received
from simulator.domino.server import BILL_FIELDS
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.records import AgentRec, DbRec, DocumentRec, Frame, MailRec, SessionRec
from simulator.wire.stream import read_frames

runner = CliRunner()
RUN = "r1"


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


class Run:
    """A run of all-classes: its summary, and its frames by seq (bytes and decoded)."""

    def __init__(self, directory: Path) -> None:
        self.summary_path = directory / "summary.json"
        out = directory / "frames.nbf"
        result = invoke(
            "run", "all-classes", "--out", str(out), "--summary", str(self.summary_path)
        )
        assert result.exit_code == 0, result.stderr
        self.summary: dict[str, Any] = json.loads(self.summary_path.read_text())
        with out.open("rb") as stream:
            decoded = list(read_frames(stream, FrameCodec()))
        self.data = {seq: bytes(data) for seq, (_, data, _) in enumerate(decoded, 1)}
        self.frames: dict[int, Frame] = {seq: f for seq, (_, _, f) in enumerate(decoded, 1)}

    def seq_of(self, kind: type, user_field: str, user: str, **match: int) -> int:
        """The seq of the one record of ``kind`` billed to ``user`` (and ``match``)."""
        (seq,) = [
            seq
            for seq, frame in self.frames.items()
            if isinstance(frame.rec, kind)
            and getattr(frame.rec, user_field) == user
            and all(getattr(frame.rec, name) == value for name, value in match.items())
        ]
        return seq

    def fault(self, kind: str, seq: Iterable[int], **more: Any) -> dict[str, Any]:
        """A `faults` entry of ``kind`` touching ``seq``, as the contract writes it."""
        numbers = sorted(seq)
        frames = {str(n): carried(self.frames[n]) for n in numbers}
        return {
            "fault": kind,
            "server": SERVER,
            "run": RUN,
            "seq": numbers,
            "frames": frames,
            **more,
        }

    def expected(self, directory: Path, *faults: dict[str, Any], **changes: Any) -> Path:
        """The summary of the run on MQTT (it has a run id) with ``faults`` listed."""
        path = directory / "expected.json"
        path.write_text(json.dumps({**self.summary, "run": RUN, "faults": list(faults), **changes}))
        return path

    def users(self) -> dict[str, dict[str, Any]]:
        copy: dict[str, dict[str, Any]] = json.loads(json.dumps(self.summary["users"]))
        return copy  # to change


def carried(frame: Frame) -> dict[str, Any]:
    """The user a frame bills and the bill fields it carries (the kinds these tests
    fault; the fault injection's own helper is the reference)."""
    rec = frame.rec
    if isinstance(rec, MailRec):
        return {"user": rec.Originator, "fields": {"mail": 1, "mail_bytes": rec.MessageSize}}
    if isinstance(rec, AgentRec):
        return {"user": rec.UserName, "fields": {"agents": 1, "agent_time": rec.ElapsedRunTime}}
    if isinstance(rec, DocumentRec):
        return {"user": rec.Username, "fields": {"charges": rec.Charge, "documents": 1}}
    if isinstance(rec, DbRec):
        return {"user": rec.Username, "fields": {"db_open_time": rec.DBOpenTime}}
    assert isinstance(rec, SessionRec)
    fields = {"bytes_in": rec.BytesIn, "bytes_out": rec.BytesOut}
    if rec.Action == c.BILL_SESSION_END:
        fields["sessions"] = 1
    return {"user": rec.Username, "fields": fields}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return Run(tmp_path_factory.mktemp("run"))


@pytest.fixture(params=["sqlite", "postgresql", "nbf"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'billing.db'}"
    if request.param == "nbf":
        return f"nbf:{tmp_path / 'billing.nbf'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def store(url: str, run: Run, *, withheld: Iterable[int] = (), twice: Iterable[int] = ()) -> None:
    """What the add-in stores of the run's frames, less ``withheld``; ``twice``: frames
    delivered twice (the store keeps one of each)."""
    kept = open_store(url)
    left_out = set(withheld)
    for seq, data in (*run.data.items(), *((seq, run.data[seq]) for seq in twice)):
        if seq not in left_out:
            kept.add(Received("Mail01", RUN, seq, "t", data, None, 0))
    kept.commit()
    kept.close()


def lines(output: str) -> list[str]:
    """The output's lines, runs of spaces (table alignment) as one."""
    return [" ".join(line.split()) for line in output.splitlines()]


def explained_part(output: str) -> list[str]:
    found = lines(output)
    return found[found.index("explained by injected faults:") :]


def consumer_part(output: str) -> list[str]:
    found = lines(output)
    end = (
        found.index("explained by injected faults:")
        if "explained by injected faults:" in found
        else None
    )
    return found[:end]


# -- with a store --------------------------------------------------------------------------


def test_a_truncated_frame_the_store_lacks_is_explained_and_exits_0(
    run: Run, store_url: str, tmp_path: Path
) -> None:
    mail = run.seq_of(MailRec, "Originator", ALICE)
    mail_rec = run.frames[mail].rec
    assert isinstance(mail_rec, MailRec)
    size = mail_rec.MessageSize
    store(store_url, run, withheld=[mail])
    expected = run.expected(tmp_path, run.fault("truncate", [mail]))
    result = invoke("verify", "--expected", str(expected), "--actual", store_url)
    assert result.exit_code == 0, result.stdout
    found = lines(result.stdout)
    assert found[0] == "explained by injected faults:"
    assert found[1:6] == [
        "user field expected actual difference fault",
        f"{ALICE} mail 1 0 -1 truncate on Mail01 seq {mail}",
        f"{ALICE} mail_bytes {size} 0 -{size} truncate on Mail01 seq {mail}",
        f"Mail01 run r1: seq missing {mail}: truncate on Mail01 seq {mail}",
        "injected faults (1):",
    ]
    assert found[6] == f"1. truncate on Mail01 seq {mail}: explains 2 differences and 1 missing seq"
    assert found[7].startswith(
        "EXPLAINED: 2 differences in 1 of 5 users (14 fields each) and 1 missing seq"
    )


def test_a_frame_no_fault_touched_missing_from_the_store_exits_1_naming_its_seq(
    run: Run, store_url: str, tmp_path: Path
) -> None:
    mail = run.seq_of(MailRec, "Originator", ALICE)
    agent = run.seq_of(AgentRec, "UserName", BOB)
    store(store_url, run, withheld=[mail, agent])
    expected = run.expected(tmp_path, run.fault("truncate", [mail]))
    result = invoke("verify", "--expected", str(expected), "--actual", store_url)
    assert result.exit_code == 1, result.stdout
    consumers = consumer_part(result.stdout)
    assert consumers[1].startswith(f"{BOB} agents 1 0 -1")
    assert consumers[2].startswith(f"{BOB} agent_time ")
    assert f"Mail01 run r1: seq missing {agent}" in consumers
    # The truncated frame's seq is explained, not the consumer's.
    assert [line for line in consumers if line.startswith("Mail01 run")] == [
        f"Mail01 run r1: seq missing {agent}"
    ]
    assert f"Mail01 run r1: seq missing {mail}: truncate on Mail01 seq {mail}" in explained_part(
        result.stdout
    )
    verdict = lines(result.stdout)[-1]
    assert verdict.startswith(
        "DIFFERENT: 2 differences in 1 of 5 users (14 fields each), 1 seq missing"
    )
    assert "that no injected fault explains (3 other findings explained)" in verdict


def test_a_crash_explains_the_frames_it_lost_and_what_they_billed(
    run: Run, store_url: str, tmp_path: Path
) -> None:
    """Bob's CLOSE_END and END were still in MQ$BILLING when the server died: the store
    bills his database from its last STAMP (less open time), which the crash explains."""
    close_end = run.seq_of(DbRec, "Username", BOB, Action=c.BILL_DB_CLOSE_END)
    end = run.seq_of(SessionRec, "Username", BOB, Action=c.BILL_SESSION_END)
    stamp = run.seq_of(DbRec, "Username", BOB, Action=c.BILL_DB_STAMP)
    store(store_url, run, withheld=[close_end, end])
    crash = run.fault(
        "crash", [stamp, close_end, end], lost=[close_end, end], sessions_without_end=1
    )
    expected = run.expected(tmp_path, crash)
    result = invoke("verify", "--expected", str(expected), "--actual", store_url)
    assert result.exit_code == 0, result.stdout
    explained = explained_part(result.stdout)
    assert explained[2].startswith(f"{BOB} db_open_time ")
    assert explained[2].endswith(f"crash on Mail01 seq {stamp}-{close_end}")
    assert (
        f"Mail01 run r1: seq missing {close_end}-{end}: crash on Mail01 seq {close_end}-{end}"
        in explained
    )


def test_a_crash_does_not_explain_a_frame_it_did_not_lose(
    run: Run, store_url: str, tmp_path: Path
) -> None:
    stamp = run.seq_of(DbRec, "Username", BOB, Action=c.BILL_DB_STAMP)
    end = run.seq_of(SessionRec, "Username", BOB, Action=c.BILL_SESSION_END)
    store(store_url, run, withheld=[stamp])
    expected = run.expected(tmp_path, run.fault("crash", [stamp, end], lost=[end]))
    result = invoke("verify", "--expected", str(expected), "--actual", store_url)
    assert result.exit_code == 1, result.stdout
    assert (
        f"Mail01 run r1: seq missing {stamp}; crash on Mail01 seq {stamp} touched it: "
        "that fault takes no frame away"
    ) in consumer_part(result.stdout)


def test_a_duplicate_the_store_kept_once_changes_nothing(
    run: Run, store_url: str, tmp_path: Path
) -> None:
    document = run.seq_of(DocumentRec, "Username", BOB)
    store(store_url, run, twice=[document])
    expected = run.expected(tmp_path, run.fault("duplicate", [document]))
    result = invoke("verify", "--expected", str(expected), "--actual", store_url)
    assert result.exit_code == 0, result.stdout
    assert lines(result.stdout) == [
        "injected faults (1):",
        f"1. duplicate on Mail01 seq {document}: explains nothing verify found",
        f"EQUAL: 5 users, 14 fields each, {store_url} = {expected}",
    ]


def test_a_duplicate_a_consumer_stored_twice_is_its_own_fault(run: Run, tmp_path: Path) -> None:
    """An NBF file a consumer wrote itself, its index naming the duplicated frame twice:
    the seq stored twice and the charge billed twice are named, with the duplicate."""
    document = run.seq_of(DocumentRec, "Username", BOB)
    path = tmp_path / "billing.nbf"
    order = [*run.data, document]
    end, index = 0, []
    for seq in order:
        end += len(run.data[seq])
        index.append(f"Mail01 {RUN} {seq} {end}\n")
    path.write_bytes(b"".join(run.data[seq] for seq in order))
    (tmp_path / "billing.nbf.seen").write_text("".join(index))
    expected = run.expected(tmp_path, run.fault("duplicate", [document]))
    result = invoke("verify", "--expected", str(expected), "--actual", f"nbf:{path}")
    assert result.exit_code == 1, result.stdout
    found = lines(result.stdout)
    why = (
        f"duplicate on Mail01 seq {document} published it twice: "
        "a consumer stores and bills it once"
    )
    assert found[1:5] == [
        f"{BOB} charges 0.05 0.1 +0.05",
        f"{BOB} documents 1 2 +1",
        f"{BOB} charges: {why}",
        f"{BOB} documents: {why}",
    ]
    assert f"Mail01 run r1: seq stored twice {document}; {why}" in found
    assert (
        f"1. duplicate on Mail01 seq {document}: "
        "touches 2 differences and 1 seq stored twice it does not explain"
    ) in found
    assert "explained by injected faults:" not in found
    assert found[-1].startswith(
        "DIFFERENT: 2 differences in 1 of 5 users (14 fields each), 1 seq stored twice"
    )


# -- with a REPORT file --------------------------------------------------------------------


def write_json(path: Path, users: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"users": users}))
    return path


def test_a_corrupt_frames_user_and_field_differing_is_explained(run: Run, tmp_path: Path) -> None:
    mail = run.seq_of(MailRec, "Originator", ALICE)
    users = run.users()
    users[ALICE]["mail_bytes"] += 4096  # the consumer decoded a flipped MessageSize
    report = write_json(tmp_path / "report.json", users)
    expected = run.expected(tmp_path, run.fault("corrupt", [mail]))
    result = invoke("verify", "--expected", str(expected), "--actual", str(report))
    assert result.exit_code == 0, result.stdout
    assert f"{ALICE} mail_bytes 48213 52309 +4096 corrupt on Mail01 seq {mail}" in lines(
        result.stdout
    )
    assert lines(result.stdout)[-1].startswith("EXPLAINED: 1 difference in 1 of 5 users")


def test_a_difference_in_a_field_the_corrupt_frame_does_not_carry_exits_1(
    run: Run, tmp_path: Path
) -> None:
    mail = run.seq_of(MailRec, "Originator", ALICE)
    users = run.users()
    users[ALICE]["mail_bytes"] += 4096
    users[ALICE]["web_bytes"] += 1
    report = write_json(tmp_path / "report.json", users)
    expected = run.expected(tmp_path, run.fault("corrupt", [mail]))
    result = invoke("verify", "--expected", str(expected), "--actual", str(report))
    assert result.exit_code == 1, result.stdout
    consumers = consumer_part(result.stdout)
    assert consumers[1] == f"{ALICE} web_bytes 5120 5121 +1"
    assert len(consumers) == 2
    assert f"{ALICE} mail_bytes 48213 52309 +4096 corrupt on Mail01 seq {mail}" in explained_part(
        result.stdout
    )


def test_a_duplicate_billed_twice_in_a_report_exits_1_and_names_the_duplicate(
    run: Run, tmp_path: Path
) -> None:
    agent = run.seq_of(AgentRec, "UserName", BOB)
    agent_rec = run.frames[agent].rec
    assert isinstance(agent_rec, AgentRec)
    elapsed = agent_rec.ElapsedRunTime
    users = run.users()
    users[BOB]["agents"] += 1
    users[BOB]["agent_time"] += elapsed
    report = write_json(tmp_path / "report.json", users)
    expected = run.expected(tmp_path, run.fault("duplicate", [agent]))
    result = invoke(
        "verify", "--expected", str(expected), "--actual", str(report), "--format", "json"
    )
    assert result.exit_code == 1, result.stdout
    outcome = json.loads(result.stdout)
    assert (outcome["equal"], outcome["passed"], outcome["explained"]) == (False, False, [])
    duplicate = [{"fault": "duplicate", "number": 1, "server": SERVER, "run": RUN, "seq": [agent]}]
    assert outcome["differences"] == [
        {
            "user": BOB,
            "field": "agents",
            "expected": 1,
            "actual": 2,
            "difference": 1,
            "touched_by": duplicate,
        },
        {
            "user": BOB,
            "field": "agent_time",
            "expected": elapsed,
            "actual": 2 * elapsed,
            "difference": elapsed,
            "touched_by": duplicate,
        },
    ]
    assert outcome["faults"] == [
        {
            "number": 1,
            "fault": "duplicate",
            "server": SERVER,
            "run": RUN,
            "seq": [agent],
            "explains": {"differences": [], "missing": [], "stored_twice": []},
            "touches": {
                "differences": [
                    {"user": BOB, "field": "agents"},
                    {"user": BOB, "field": "agent_time"},
                ],
                "missing": [],
                "stored_twice": [],
            },
        }
    ]


def test_a_duplicate_billed_once_in_a_report_is_equal(run: Run, tmp_path: Path) -> None:
    agent = run.seq_of(AgentRec, "UserName", BOB)
    report = write_json(tmp_path / "report.json", run.users())
    expected = run.expected(tmp_path, run.fault("duplicate", [agent]))
    result = invoke("verify", "--expected", str(expected), "--actual", str(report))
    assert result.exit_code == 0, result.stdout
    assert lines(result.stdout)[-1].startswith("EQUAL: 5 users")


def test_json_puts_the_explained_differences_apart_with_their_faults(
    run: Run, tmp_path: Path
) -> None:
    mail = run.seq_of(MailRec, "Originator", ALICE)
    users = run.users()
    users[ALICE]["mail"] = users[ALICE]["mail_bytes"] = 0
    report = write_json(tmp_path / "report.json", users)
    dst = {"fault": "dst", "server": SERVER, "run": RUN, "seq": [], "frames": {}}
    expected = run.expected(tmp_path, dst, run.fault("truncate", [mail]))
    result = invoke(
        "verify", "--expected", str(expected), "--actual", str(report), "--format", "json"
    )
    assert result.exit_code == 0, result.stdout
    outcome = json.loads(result.stdout)
    assert (outcome["equal"], outcome["passed"], outcome["differences"]) == (False, True, [])
    truncate = [{"fault": "truncate", "number": 2, "server": SERVER, "run": RUN, "seq": [mail]}]
    assert [(d["field"], d["difference"], d["explained_by"]) for d in outcome["explained"]] == [
        ("mail", -1, truncate),
        ("mail_bytes", -48213, truncate),
    ]
    assert [(f["fault"], f["explains"]) for f in outcome["faults"]] == [
        ("dst", {"differences": [], "missing": [], "stored_twice": []}),
        (
            "truncate",
            {
                "differences": [
                    {"user": ALICE, "field": "mail"},
                    {"user": ALICE, "field": "mail_bytes"},
                ],
                "missing": [],
                "stored_twice": [],
            },
        ),
    ]


def test_a_domains_faults_are_those_of_every_server(run: Run, tmp_path: Path) -> None:
    """A domain's summary lists each server's faults in its own summary under `servers`;
    with a REPORT, a fault of any server explains."""
    mail = run.seq_of(MailRec, "Originator", ALICE)
    users = run.users()
    users[ALICE]["mail_bytes"] += 1
    report = write_json(tmp_path / "report.json", users)
    mail02 = "CN=Mail02/O=Acme"
    servers = {
        SERVER: {"server": SERVER, "faults": [run.fault("corrupt", [mail])]},
        mail02: {"server": mail02, "faults": []},
    }
    expected = tmp_path / "domain.json"
    expected.write_text(json.dumps({"users": run.summary["users"], "servers": servers}))
    result = invoke("verify", "--expected", str(expected), "--actual", str(report))
    assert result.exit_code == 0, result.stdout
    assert f"{ALICE} mail_bytes 48213 48214 +1 corrupt on Mail01 seq {mail}" in lines(result.stdout)


def test_a_long_list_of_faults_is_cut_in_the_table_and_whole_in_json(
    run: Run, tmp_path: Path
) -> None:
    dst = {"fault": "dst", "server": SERVER, "run": RUN, "seq": [], "frames": {}}
    expected = run.expected(tmp_path, *[dst] * 60)
    table = invoke("verify", "--expected", str(expected), "--actual", str(run.summary_path))
    assert table.exit_code == 0, table.stdout
    found = lines(table.stdout)
    assert found[0] == "injected faults (60):"
    assert found[50] == "50. dst on Mail01: explains nothing verify found"
    assert found[51] == "… and 10 more (--format json lists every one)"
    as_json = invoke(
        "verify", "--expected", str(expected), "--actual", str(run.summary_path), "--format", "json"
    )
    assert [f["number"] for f in json.loads(as_json.stdout)["faults"]] == list(range(1, 61))


def test_faults_that_break_the_contract_exit_2_naming_the_field(run: Run, tmp_path: Path) -> None:
    expected = run.expected(tmp_path, {"fault": "flood", "server": SERVER, "seq": [1]})
    result = invoke("verify", "--expected", str(expected), "--actual", str(run.summary_path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f'billsim: {expected}:1: faults[0].fault: "flood" is no fault')


def test_a_csv_ground_truth_against_a_store_compares_the_bills(run: Run, tmp_path: Path) -> None:
    """A CSV REPORT has no run and no faults: the bills are compared, nothing else."""
    truth = tmp_path / "truth.csv"
    rows = ["user," + ",".join(BILL_FIELDS)]
    for user, totals in run.summary["users"].items():
        rows.append(",".join([user, *(str(totals[name]) for name in BILL_FIELDS)]))
    truth.write_text("\n".join(rows) + "\n")
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    store(url, run)
    result = invoke("verify", "--expected", str(truth), "--actual", url)
    assert result.exit_code == 0, result.output
    assert lines(result.stdout)[-1].startswith("EQUAL: 5 users")
