"""`billsim run` of a domain (`workload: servers: N`, docs/workload.md#domain): a file per
server, each clean and holding exactly the users homed there, the same bytes per seed
whatever the processes, and one summary that `verify` reads as one server's."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from broker_processes import MosquittoBroker, free_port
from typer.testing import CliRunner

from simulator import cli
from simulator.adapters.sinks import BinaryFileSink
from simulator.adapters.stores import open_store, read_rows
from simulator.addin.store import Received
from simulator.commands.run import run_to_sink
from simulator.commands.run_domain import (
    Board,
    DomainProgress,
    process_count,
    server_output,
    share_out,
)
from simulator.domino.domain import Domain, domain_servers
from simulator.domino.server import BILL_FIELDS
from simulator.domino.simulation import RunOptions, Simulation
from simulator.errors import InputError
from simulator.scenario.loader import load_scenario
from simulator.wire.codec import FrameCodec
from simulator.wire.stream import read_frames

runner = CliRunner()
SERVERS = domain_servers("CN=Mail01/O=Acme", 2)
USERS = 60

# 60 generated users over 2 servers for 40 minutes, and one scripted user (Alice).
DOMAIN = """\
name: two-servers
seed: 11
start: "2026-11-21T09:00:00Z"
duration: 40m
server: CN=Mail01/O=Acme
notes_ini: {{BillingClass: "Session,Database,Document", BillingSuppressTime: 1}}
databases:
  mail/a.nsf: {{replica_id: "85258A3B:0052C1F0"}}
  apps/b.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {{0x2306: {{charge_read: 0.05, charge_write: 0.25}}}}
users:
  alice: {{name: "CN=Alice Smith/O=Acme", address: "10.9.9.9"}}
script:
  - {{at: 1m, user: alice, action: open, db: mail/a.nsf}}
  - {{at: 9m, user: alice, action: logout}}
workload: {{users: {users}, think_time: 20s, session_length: 6m, arrival: 5m, servers: {servers}}}
"""


def invoke(*args: str) -> Any:
    return runner.invoke(cli.app, list(args))


def billsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "simulator", *args]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "domain.yaml"
    path.write_text(DOMAIN.format(users=USERS, servers=2))
    return path


@pytest.fixture(scope="module")
def day(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One run of the domain in 2 processes: its directory (day.Mail01.nbf, day.Mail02.nbf,
    day.nbf.summary.json) and the merged summary."""
    directory = tmp_path_factory.mktemp("day")
    return directory, run_domain(scenario, directory / "day.nbf", "--procs", "2")


def run_domain(scenario: Path, out: Path, *args: str) -> dict[str, Any]:
    """`billsim run SCENARIO --out OUT` as a user runs it (a child process, so the domain's
    processes are spawned from a plain `python -m simulator`); the merged summary."""
    summary = out.with_name(out.name + ".summary.json")
    proc = subprocess.run(
        billsim("run", str(scenario), "--out", str(out), "--summary", str(summary), *args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    merged: dict[str, Any] = json.loads(summary.read_text())
    return merged


def usernames(path: Path) -> set[str]:
    """The users a server's records name (sessions, databases, documents)."""
    with path.open("rb") as stream:
        names = {
            getattr(frame.rec, "Username", None)
            for _offset, _data, frame in read_frames(stream, FrameCodec())
        }
    return {name for name in names if isinstance(name, str)}


def stored(store: str) -> int:
    """The frames an add-in's store holds so far (none before it made its tables)."""
    try:
        tables = read_rows(store)
    except InputError:  # not made yet
        return 0
    return sum(len(rows) for name, rows in tables.items() if name != "rejects")


def frames_of(path: Path) -> list[bytes]:
    with path.open("rb") as stream:
        return [data for _offset, data, _frame in read_frames(stream, FrameCodec())]


# -- the plan --------------------------------------------------------------------------------


def test_servers_are_shared_out_in_order_and_evenly() -> None:
    assert share_out(5, 2) == [(0, 1, 2), (3, 4)]
    assert share_out(2, 2) == [(0,), (1,)]
    assert share_out(3, 1) == [(0, 1, 2)]


def test_procs_default_to_the_servers_and_never_exceed_them() -> None:
    assert process_count(8, 2) == 2  # a process with no server would do nothing
    assert process_count(1, 4) == 1
    assert 1 <= process_count(None, 2) <= 2


def test_each_server_writes_the_out_file_named_after_it() -> None:
    assert server_output(Path("runs/day.nbf"), SERVERS[1]) == Path("runs/day.Mail02.nbf")
    assert server_output(Path("day"), SERVERS[0]) == Path("day.Mail01")


def test_the_live_line_shows_the_slowest_servers_time_and_each_servers_records() -> None:
    board = Board.local(2)
    board.post(0, 1_200, 90 * 60_000_000)
    board.post(1, 800, 30 * 60_000_000)
    line = DomainProgress(board, datetime(2026, 11, 21, 9, tzinfo=UTC), SERVERS, io.StringIO())
    text = line.line()
    assert text.startswith("2026-11-21 09:30:00  records 2,000  ")
    assert text.endswith("[Mail01 1,200  Mail02 800]")


# -- a domain's run --------------------------------------------------------------------------


def test_each_server_file_is_clean_and_holds_exactly_its_home_users(
    scenario: Path, day: tuple[Path, dict[str, Any]]
) -> None:
    directory, _ = day
    files = [directory / "day.Mail01.nbf", directory / "day.Mail02.nbf"]
    for path in files:
        result = invoke("check", str(path), "--scenario", str(scenario))
        assert result.exit_code == 0, result.stdout
        assert "no violations" in result.stdout
    domain = Domain(SERVERS)
    seen = [usernames(path) for path in files]
    for index, names in enumerate(seen):
        generated = {name for name in names if name.startswith("CN=User ")}
        numbers = {int(name.removeprefix("CN=User ").partition("/")[0]) for name in generated}
        # User number n is index n - 1: each user is on its home server and nowhere else.
        assert numbers and all(domain.home_of(n - 1) == index for n in numbers)
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == USERS + 1  # every user signed on, Alice included
    # The script's named users run on the domain's first server.
    assert "CN=Alice Smith/O=Acme" in seen[0]


def test_the_same_seed_gives_the_same_bytes_per_server_in_any_number_of_processes(
    scenario: Path, day: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, _ = day
    run_domain(scenario, tmp_path / "again.nbf", "--procs", "2")
    # One process runs both servers on one loop: the same bytes again (in-process here).
    result = invoke("run", str(scenario), "--out", str(tmp_path / "one.nbf"), "--procs", "1")
    assert result.exit_code == 0, result.stderr
    for name in ("Mail01", "Mail02"):
        data = (directory / f"day.{name}.nbf").read_bytes()
        assert data == (tmp_path / f"again.{name}.nbf").read_bytes()
        assert data == (tmp_path / f"one.{name}.nbf").read_bytes()
    # Another seed is another run.
    run_domain(scenario, tmp_path / "other.nbf", "--seed", "12")
    other = (tmp_path / "other.Mail01.nbf").read_bytes()
    assert other != (directory / "day.Mail01.nbf").read_bytes()


def test_a_server_of_a_domain_run_alone_writes_what_its_process_wrote(
    scenario: Path, day: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory, _ = day
    loaded = load_scenario(scenario)
    for index, name in enumerate(("Mail01", "Mail02")):
        sim = Simulation(
            loaded, loaded.settings_with(), RunOptions(), domain=Domain(SERVERS, index)
        )
        alone = tmp_path / f"alone.{name}.nbf"
        with alone.open("wb") as stream:
            asyncio.run(run_to_sink(sim, BinaryFileSink(stream), io.StringIO()))
        assert alone.read_bytes() == (directory / f"day.{name}.nbf").read_bytes()


def test_the_summary_is_the_sum_of_the_servers_in_one_servers_shape(
    day: tuple[Path, dict[str, Any]],
) -> None:
    directory, merged = day
    servers = merged["servers"]
    assert list(servers) == list(SERVERS)
    assert merged["server"] == ", ".join(SERVERS)
    combined: dict[str, dict[str, Any]] = {}
    for summary in servers.values():
        assert not combined.keys() & summary["users"].keys()  # a user is on one server
        combined.update(summary["users"])
    assert merged["users"] == combined
    assert set(merged["users"]["CN=User 1/O=Acme"]) == set(BILL_FIELDS)
    for field in ("records", "events", "sessions_started", "dropped"):
        assert merged[field] == sum(summary[field] for summary in servers.values())
    for name, count in merged["records_by_class"].items():
        assert count == sum(s["records_by_class"].get(name, 0) for s in servers.values())
    assert merged["seed"] == 11  # the run's seed, not a sum
    assert merged["virtual_span_s"] == max(s["virtual_span_s"] for s in servers.values())
    assert merged["records"] == sum(
        len(frames_of(directory / f"day.{n}.nbf")) for n in ("Mail01", "Mail02")
    )
    # The merged summary is a REPORT: verify reads it as it reads one server's.
    summary = str(directory / "day.nbf.summary.json")
    result = invoke("verify", "--expected", summary, "--actual", summary)
    assert result.exit_code == 0, result.stdout


def test_verify_judges_the_seq_numbers_of_each_servers_run(
    day: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A store missing one frame of the second server's run: verify names that server's
    run and the seq, and holds the first server's whole."""
    directory, merged = day
    merged = json.loads(json.dumps(merged))  # a copy: the fixture's is shared
    store = open_store(f"sqlite:///{tmp_path / 'billing.db'}")
    withheld = 5
    for name, run_id in (("Mail01", "r1"), ("Mail02", "r2")):
        merged["servers"][f"CN={name}/O=Acme"]["run"] = run_id
        for seq, frame in enumerate(frames_of(directory / f"day.{name}.nbf"), 1):
            if (name, seq) != ("Mail02", withheld):
                store.add(Received(name, run_id, seq, "t", frame, None, 0))
    store.commit()
    store.close()
    summary_path = tmp_path / "with-runs.json"
    summary_path.write_text(json.dumps(merged))
    result = invoke("verify", "--expected", str(summary_path), "--actual", store.url)
    assert result.exit_code == 1
    assert f"Mail02 run r2: seq missing {withheld}" in result.stdout
    assert "Mail01 run r1" not in result.stdout


def test_ctrl_c_shuts_every_server_down_and_writes_the_summary(
    scenario: Path, tmp_path: Path
) -> None:
    """SIGINT to the process a user started: each server ends its sessions (its file
    stays clean), and the domain's summary is written."""
    long = tmp_path / "long.yaml"
    long.write_text(scenario.read_text().replace("duration: 40m", "duration: 30d"))
    out, summary = tmp_path / "long.nbf", tmp_path / "long.json"
    files = [tmp_path / "long.Mail01.nbf", tmp_path / "long.Mail02.nbf"]
    process = subprocess.Popen(
        billsim("run", str(long), "--out", str(out), "--summary", str(summary), "--speed", "600x"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not all(path.exists() and path.stat().st_size > 0 for path in files):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "SIGINT: shutting down 2 servers" in err
    merged = json.loads(summary.read_text())
    assert list(merged["servers"]) == list(SERVERS)
    assert merged["virtual_span_s"] < 86_400
    for path in files:
        result = invoke("check", str(path), "--scenario", str(long))
        assert result.exit_code == 0, result.stdout


@pytest.mark.broker
@pytest.mark.parametrize("procs", ["1", "2"])
def test_a_second_ctrl_c_quits_at_once_while_the_broker_holds_the_shutdown(
    mosquitto: MosquittoBroker, scenario: Path, tmp_path: Path, procs: str
) -> None:
    """The broker stops answering: each server's shutdown waits for room in its queue;
    a second SIGINT leaves at once, each server saying what it leaves undelivered, and
    the domain's summary is printed and written all the same, in one process or several."""
    summary_path = tmp_path / "out" / "truth.json"
    summary_path.parent.mkdir()
    process = subprocess.Popen(
        billsim(
            "run", str(scenario), "--broker", mosquitto.url, "--speed", "60x",
            "--procs", procs, "--summary", str(summary_path),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while mosquitto.log_text().count("PUBLISH from billsim-Mail0") < 50:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    mosquitto.pause()
    try:
        process.send_signal(signal.SIGINT)
        time.sleep(1)
        assert process.poll() is None  # still shutting down: the broker holds the frames
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        mosquitto.resume()
    assert process.returncode == 1, err
    # A line per process, naming its servers.
    said = re.findall(r"(Mail0\d(?:, Mail0\d)*): quitting at once: (\d+) frame\(s\)", err)
    assert sorted(names for names, _ in said) == (
        ["Mail01, Mail02"] if procs == "1" else ["Mail01", "Mail02"]
    ), err
    assert "Traceback" not in err
    left = sum(int(count) for _, count in said)
    assert "summary is lost" not in err
    summary = json.loads(summary_path.read_text())
    assert list(summary["servers"]) == list(SERVERS)
    # What the servers left, and whatever the broker had refused, is undelivered.
    assert summary["undelivered"] >= left > 0
    assert f"{summary['undelivered']} frame(s) were not acknowledged by the broker" in err
    assert [path.name for path in summary_path.parent.iterdir()] == ["truth.json"]


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("servers", ["0", "65", "two"])
def test_a_bad_servers_value_is_exit_2_naming_the_field(tmp_path: Path, servers: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(DOMAIN.format(users=USERS, servers=servers))
    result = invoke("run", str(path), "--out", str(tmp_path / "x.nbf"))
    assert result.exit_code == 2
    assert "workload.servers" in result.stderr


def test_bad_procs_and_one_stream_for_a_domain_are_exit_2_naming_the_option(
    scenario: Path, tmp_path: Path
) -> None:
    result = invoke("run", str(scenario), "--out", str(tmp_path / "x.nbf"), "--procs", "0")
    assert result.exit_code == 2
    assert "--procs" in result.stderr
    for args, option in (
        (("--stdout",), "--stdout"),
        (("--out", "-"), "--out"),
        (("--watch",), "--watch"),
    ):
        result = invoke("run", str(scenario), *args)
        assert result.exit_code == 2, args
        assert f"{option}: a domain of 2 servers" in result.stderr or (
            f"{option}: shows one server's frames" in result.stderr
        )
    assert not list(tmp_path.glob("*.nbf"))


def test_a_broker_that_is_not_there_fails_the_domain_naming_a_server_and_the_reason(
    scenario: Path,
) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        billsim("run", str(scenario), "--broker", url, "--connect-timeout", "1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert f"billsim: CN=Mail01/O=Acme: cannot connect to the broker {url}" in proc.stderr


# -- on MQTT ---------------------------------------------------------------------------------


@pytest.fixture
def addin_process() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.broker
def test_an_addin_draining_a_domain_bills_what_the_merged_summary_says(
    mosquitto: MosquittoBroker,
    scenario: Path,
    tmp_path: Path,
    addin_process: list[subprocess.Popen[bytes]],
) -> None:
    store = f"sqlite:///{tmp_path / 'billing.db'}"
    addin = subprocess.Popen(
        billsim("addin", "--broker", mosquitto.url, "--store", store),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    addin_process.append(addin)
    deadline = time.monotonic() + 15
    while "SUBSCRIBE from billsim-addin-addins-1" not in mosquitto.log_text():
        assert addin.poll() is None and time.monotonic() < deadline, addin.communicate()
        time.sleep(0.05)
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        billsim(
            "run",
            str(scenario),
            "--broker",
            mosquitto.url,
            "--speed",
            "max",
            "--summary",
            str(summary),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(summary.read_text())["records"]
    deadline = time.monotonic() + 60
    while stored(store) < records:
        assert addin.poll() is None and time.monotonic() < deadline, addin.communicate()
        time.sleep(0.2)
    addin.send_signal(signal.SIGTERM)  # it commits what it took, then ends
    _out, err = addin.communicate(timeout=60)
    assert addin.returncode == 0, err
    merged = json.loads(summary.read_text())
    # Each server had its own connection, so its own run id.
    runs = {name: s["run"] for name, s in merged["servers"].items()}
    assert len(set(runs.values())) == 2 and "run" not in merged
    result = invoke("verify", "--expected", str(summary), "--actual", store)
    assert result.exit_code == 0, result.stdout
    assert f"EQUAL: {USERS + 1} users" in result.stdout
