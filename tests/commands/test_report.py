"""`billsim report STORE`: the bill of a store as a table, CSV and JSON, through the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from samples import ALICE, FRAMES, SERVER_CN
from typer.testing import CliRunner

from simulator import cli
from simulator.adapters.stores import open_store
from simulator.addin.store import Received
from simulator.domino.server import BILL_FIELDS
from simulator.wire.codec import FrameCodec

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> str:
    codec = FrameCodec()
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    opened = open_store(url)
    for seq, name in enumerate(("SESSIONREC", "MAILREC", "AGENTREC", "HTTPREQREC"), 1):
        opened.add(Received(SERVER_CN, "r", seq, "t", codec.encode(FRAMES[name]), None, 0))
    opened.commit()
    opened.close()
    return url


def report(*args: str) -> str:
    result = runner.invoke(cli.app, ["report", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_is_the_run_summarys_users_shape(store: str) -> None:
    users = json.loads(report(store, "--format", "json"))["users"]
    assert sorted(users) == ["Anonymous", ALICE]
    assert list(users[ALICE]) == list(BILL_FIELDS)
    alice = users[ALICE]
    assert (alice["sessions"], alice["bytes_in"], alice["mail_bytes"], alice["agent_time"]) == (
        1,
        400,
        48_213,
        350,
    )
    servers = json.loads(report(store, "--format", "json", "--by", "server"))
    assert servers["servers"][SERVER_CN]["web_bytes"] == 5120


def test_csv_has_a_header_and_a_row_per_user(store: str) -> None:
    rows = list(csv.reader(io.StringIO(report(store, "--format", "csv"))))
    assert rows[0] == ["user", *BILL_FIELDS]
    by_user = {row[0]: dict(zip(rows[0][1:], row[1:], strict=True)) for row in rows[1:]}
    assert by_user[ALICE]["bytes_out"] == "2200"
    assert by_user["Anonymous"]["web"] == "1"
    header = report(store, "--format", "csv", "--by", "database").splitlines()[0]
    assert header.startswith("database,sessions,")


def test_the_table_shows_only_the_fields_someone_has(store: str) -> None:
    lines = report(store).splitlines()
    assert lines[0].split("  ")[0].strip() == "user"
    assert "bytes in" in lines[0] and "charges" not in lines[0]
    assert any(line.startswith(ALICE) and "48213" in line for line in lines)


def test_from_and_to_select_by_time_stamp(store: str) -> None:
    # Every sample frame is stamped 2026-11-21T09:15:00Z.
    assert (
        json.loads(report(store, "--format", "json", "--from", "2026-11-21T09:16"))["users"] == {}
    )
    inside = report(store, "--format", "json", "--from", "2026-11-21T10:15+01:00")
    assert ALICE in json.loads(inside)["users"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mysql://x/y"], "unknown store URL"),
        (["sqlite:///does/not/exist.db"], "no such SQLite store"),
        (["nbf:nowhere.nbf"], "no such NBF store"),
        (["nbf:."], ".: is a directory, not an NBF store"),
        (["sqlite:///."], ".: is a directory, not an SQLite store"),
        (["sqlite:///x.db", "--from", "yesterday"], "--from: expected an ISO-8601 time"),
        (
            ["sqlite:///x.db", "--from", "2026-11-21T10:00", "--to", "2026-11-21T09:00"],
            "--from: 2026-11-21T10:00 is not before --to 2026-11-21T09:00",
        ),
    ],
)
def test_bad_input_exits_2(args: list[str], message: str) -> None:
    result = runner.invoke(cli.app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_frame_that_does_not_decode_is_named_by_its_number(tmp_path: Path) -> None:
    """An NBF store read under the other layout: the frame named by its place in the file
    (the index gives none to a frame written without the add-in), not `frame None`."""
    path = tmp_path / "run.nbf"
    path.write_bytes(FrameCodec().encode(FRAMES["SESSIONREC"]))
    result = runner.invoke(cli.app, ["report", f"nbf:{path}", "--layout", "win32"])
    assert result.exit_code == 2
    assert f"{path}: frame 1 at byte offset 0 does not decode" in result.output


@pytest.mark.parametrize(
    ("option", "document", "message"),
    [
        ("--summary", {"x": 1}, "--summary: not a run summary"),
        ("--summary", {"users": {}}, "--summary: not a run summary"),  # a REPORT
        ("--summary", {"rejects": 0, "committed": 1}, "--summary: not a run summary"),
        ("--addin-summary", {"scenario": "x", "records": 1}, "--addin-summary: not an add-in"),
        ("--verify", {"records": 1}, "--verify: not a verify result"),
    ],
)
def test_an_html_report_refuses_a_file_of_another_kind(
    store: str, tmp_path: Path, option: str, document: dict[str, object], message: str
) -> None:
    given = tmp_path / "given.json"
    given.write_text(json.dumps(document))
    html = tmp_path / "r.html"
    result = runner.invoke(
        cli.app, ["report", store, "--format", "html", "-o", str(html), option, str(given)]
    )
    assert result.exit_code == 2, result.output
    assert f"{given}: {message}" in result.stderr
    assert not html.exists()
