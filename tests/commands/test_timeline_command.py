"""`billsim timeline` as a user runs it: a scenario run in memory or a frame file read, a
PNG that decodes, an SVG with one bar per session, and exit 2 for bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib
import pytest
from paths import REPO
from PIL import Image
from samples import ALICE, BOB, CAROL, SERVER
from typer.testing import CliRunner

from simulator import cli
from simulator.verify.checker import check_stream
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import Layout
from simulator.wire.records import SessionID, SessionRec
from simulator.wire.stream import read_frames
from simulator.wire.timedate import timedate_from_datetime

runner = CliRunner()
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
START, STAMP, END = c.BILL_SESSION_START, c.BILL_SESSION_STAMP, c.BILL_SESSION_END
BAR_ID = re.compile(rb'id="session-bar-\d+"')

# 260 generated users arriving over 10 minutes, each one session: more than 200 sessions.
CROWD = """\
name: crowd
seed: 3
start: "2026-11-21T09:00:00+01:00"
duration: 30m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database", BillingSuppressTime: 5}
workload: {users: 260, arrival: 10m, session_length: 8m, think_time: 1m, relogin: false}
"""

# A domain of two servers: one picture of both.
DOMAIN = """\
name: pair
seed: 5
start: "2026-11-21T09:00:00Z"
duration: 20m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database"}
workload: {users: 12, arrival: 5m, session_length: 6m, think_time: 30s, servers: 2}
"""


def timeline(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli.app, ["timeline", *args])
    return result.exit_code, result.output


def bars(path: Path) -> int:
    return len(BAR_ID.findall(path.read_bytes()))


def run_to(tmp_path: Path, scenario: str) -> Path:
    out = tmp_path / "frames.nbf"
    result = runner.invoke(cli.app, ["run", scenario, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def sessions_in(path: Path) -> int:
    """The sessions of a frame file, as `check` counts them (not as the timeline does)."""
    with path.open("rb") as stream:
        return check_stream(stream).sessions


def test_the_demo_png_decodes_at_a_sane_size(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    code, output = timeline("lifecycle-demo", "-o", str(out))

    assert code == 0, output
    assert "timeline of 12 records, 1 session, written to" in output
    with Image.open(out) as image:
        image.load()
        assert image.format == "PNG"
        width, height = image.size
    assert 1500 <= width <= 2000
    assert 350 <= height <= 900


@pytest.mark.parametrize(
    ("scenario", "sessions"),
    [("lifecycle-demo", 1), ("reopen", 2), ("slot-reuse", 9), ("app-server", 31)],
)
def test_the_svg_holds_one_bar_per_session(tmp_path: Path, scenario: str, sessions: int) -> None:
    out = tmp_path / "t.svg"
    code, output = timeline(scenario, "-o", str(out))

    assert code == 0, output
    assert bars(out) == sessions == sessions_in(run_to(tmp_path, scenario))


def test_beyond_busiest_the_picture_draws_n_bars_and_says_how_many_were_left_out(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "crowd.yaml"
    scenario.write_text(CROWD)
    total = sessions_in(run_to(tmp_path, str(scenario)))
    assert total > 200

    default = tmp_path / "default.svg"
    code, output = timeline(str(scenario), "-o", str(default))
    assert code == 0, output
    assert bars(default) == 200
    assert b'id="busiest-note"' in default.read_bytes()
    assert f"{total} sessions (the 200 busiest drawn)" in output

    fifty = tmp_path / "fifty.svg"
    assert timeline(str(scenario), "-o", str(fifty), "--busiest", "50")[0] == 0
    assert bars(fifty) == 50

    every = tmp_path / "every.svg"
    assert timeline(str(scenario), "-o", str(every), "--busiest", str(total))[0] == 0
    assert bars(every) == total
    assert b'id="busiest-note"' not in every.read_bytes()


def test_a_frame_file_gives_the_picture_its_scenario_gives(tmp_path: Path) -> None:
    frames = run_to(tmp_path, "slot-reuse")
    from_file = tmp_path / "file.svg"
    code, output = timeline(str(frames), "-o", str(from_file), "--scenario", "slot-reuse")

    assert code == 0, output
    assert bars(from_file) == 9


def test_json_lines_are_read_as_check_reads_them(tmp_path: Path) -> None:
    lines = tmp_path / "frames.jsonl"
    result = runner.invoke(cli.app, ["run", "reopen", "--stdout"])
    assert result.exit_code == 0, result.output
    lines.write_bytes(result.stdout_bytes)

    out = tmp_path / "t.svg"
    code, output = timeline(str(lines), "-o", str(out))
    assert code == 0, output
    assert bars(out) == 2


def test_a_stream_cut_short_draws_its_sessions_open_ended(tmp_path: Path) -> None:
    frames = run_to(tmp_path, "all-classes")
    cut = tmp_path / "cut.nbf"
    with frames.open("rb") as stream, cut.open("wb") as out:
        # Everything up to the first END: the two sessions never end.
        for _offset, data, frame in read_frames(stream, FrameCodec(Layout.LINUX_X86_64)):
            if isinstance(frame.rec, SessionRec) and frame.rec.Action == END:
                break
            out.write(data)

    picture = tmp_path / "cut.svg"
    code, output = timeline(str(cut), "-o", str(picture))
    assert code == 0, output
    assert bars(picture) == 2
    assert picture.read_bytes().count(b'id="open-end-') == 2


def test_a_domain_is_one_picture_of_every_server(tmp_path: Path) -> None:
    scenario = tmp_path / "pair.yaml"
    scenario.write_text(DOMAIN)
    out = tmp_path / "pair.svg"
    code, output = timeline(str(scenario), "-o", str(out))

    assert code == 0, output
    written = runner.invoke(cli.app, ["run", str(scenario), "--out", str(tmp_path / "d.nbf")])
    assert written.exit_code == 0, written.output
    expected = sum(sessions_in(path) for path in tmp_path.glob("d.*.nbf"))
    assert len(list(tmp_path.glob("d.*.nbf"))) == 2
    assert bars(out) == expected > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-scenario", "-o", "{tmp}/t.svg"], "no such file, nor a bundled scenario"),
        (["lifecycle-demo", "-o", "{tmp}/t.jpg"], "ends in .svg or .png"),
        (["lifecycle-demo", "-o", "{tmp}/no/such/dir/t.svg"], "No such file or directory"),
        (
            ["lifecycle-demo", "-o", "{tmp}/t.svg", "--busiest", "0"],
            "--busiest: must be at least 1",
        ),
        (["lifecycle-demo", "-o", "{tmp}/t.svg", "--scenario", "reopen"], "goes with a frame file"),
        (["lifecycle-demo", "-o", "{tmp}/t.svg", "--duration", "forever"], "runs forever"),
        (["{tmp}/empty.nbf", "-o", "{tmp}/t.svg"], "no frames: the input is empty"),
        (["{tmp}/short.nbf", "-o", "{tmp}/t.svg"], "truncated frame"),
        (["{tmp}/empty.nbf", "-o", "{tmp}/t.svg", "--duration", "1h"], "goes with a scenario"),
        (["lifecycle-demo", "-o", "{tmp}/t.svg", "--seed", "-5"], "--seed"),
    ],
)
def test_bad_input_exits_2_saying_what_is_wrong(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "empty.nbf").write_bytes(b"")
    (tmp_path / "short.nbf").write_bytes(run_to(tmp_path, "lifecycle-demo").read_bytes()[:1500])

    code, output = timeline(*(arg.format(tmp=tmp_path) for arg in args))

    assert code == 2, output
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "t.svg").exists()


def test_the_readme_picture_is_what_billsim_draws_of_lifecycle_demo(tmp_path: Path) -> None:
    kept = REPO / "docs" / "images" / "lifecycle-demo.svg"
    assert "(docs/images/lifecycle-demo.svg)" in (REPO / "README.md").read_text(encoding="utf-8")
    assert bars(kept) == 1

    fresh = tmp_path / "demo.svg"
    assert timeline("lifecycle-demo", "-o", str(fresh))[0] == 0
    drawn_by = re.search(rb"Matplotlib v([0-9.]+)", kept.read_bytes())
    if drawn_by is not None and drawn_by[1].decode() == matplotlib.__version__:
        # The same matplotlib draws the same bytes: redraw it when the picture changes
        # (billsim timeline lifecycle-demo -o docs/images/lifecycle-demo.svg).
        assert fresh.read_bytes() == kept.read_bytes()


def test_a_frame_file_with_a_restart_gets_a_band_where_check_names_it(tmp_path: Path) -> None:
    codec = FrameCodec(Layout.LINUX_X86_64)
    records = [
        (0, SessionRec(SessionID(1, 1), START, ALICE, 400, 2200, "10.1.2.3")),
        (2, SessionRec(SessionID(2, 1), START, BOB, 300, 1000, "10.1.2.4")),
        (15, SessionRec(SessionID(1, 1), STAMP, ALICE, 1600, 2500, "10.1.2.3")),
        # The server dies after 09:15 (no END for either) and is back at 09:30: slot 1 again.
        (30, SessionRec(SessionID(1, 2), START, CAROL, 100, 100, "10.1.2.5")),
        (40, SessionRec(SessionID(1, 2), END, CAROL, 900, 900, "10.1.2.5")),
    ]
    crashed = tmp_path / "crashed.nbf"
    crashed.write_bytes(
        b"".join(
            codec.encode_record(rec, SERVER, timedate_from_datetime(T0 + timedelta(minutes=m)))
            for m, rec in records
        )
    )
    checked = runner.invoke(cli.app, ["check", str(crashed)])
    assert checked.exit_code == 0 and "server restart at" in checked.output, checked.output

    picture = tmp_path / "crashed.svg"
    code, output = timeline(str(crashed), "-o", str(picture))
    assert code == 0, output
    svg = picture.read_bytes()
    assert bars(picture) == 3
    assert svg.count(b'id="crash-') == 1
    assert svg.count(b'id="open-end-') == 2  # Alice and Bob, cut by the crash


CRASHING = """\
name: crash-demo
start: "2026-11-23T07:00:00Z"
duration: 3h
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Mail"}
workload: {preset: typical-mail, users: 30}
faults: {crash: {at: 90m, restart_after: 10m}}
"""


def test_a_scenario_s_crash_fault_is_a_band_over_the_minutes_the_server_was_down(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(CRASHING)
    picture = tmp_path / "crash.svg"
    code, output = timeline(str(scenario), "-o", str(picture))
    assert code == 0, output
    svg = picture.read_bytes()
    assert svg.count(b'id="crash-') == 1
    # Without the fault: the same day, no band.
    scenario.write_text(CRASHING.replace("faults:", "# faults:"))
    code, output = timeline(str(scenario), "-o", str(picture))
    assert code == 0, output
    assert b'id="crash-' not in picture.read_bytes()


def test_a_crash_given_with_fault_is_drawn_as_run_fault_injects_it(tmp_path: Path) -> None:
    """`--fault` as on `billsim run`: in place of the scenario's entry, or added to a
    scenario with none; a bad one is bad input named as the option, and a frame file,
    which is read rather than run, takes none."""
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(CRASHING.replace("faults:", "# faults:"))
    picture = tmp_path / "crash.svg"
    code, output = timeline(
        str(scenario), "-o", str(picture), "--fault", "crash={at: 90m, restart_after: 10m}"
    )
    assert code == 0, output
    assert picture.read_bytes().count(b'id="crash-') == 1
    # In place of the scenario's own crash: none at all.
    scenario.write_text(CRASHING)
    code, output = timeline(str(scenario), "-o", str(picture), "--fault", "crash=null")
    assert code == 0, output
    assert b'id="crash-' not in picture.read_bytes()
    code, output = timeline(str(scenario), "-o", str(picture), "--fault", "crash={at: 5h}")
    assert code == 2 and "--fault crash" in output, output
    frames = tmp_path / "day.nbf"
    assert runner.invoke(cli.app, ["run", str(scenario), "--out", str(frames)]).exit_code == 0
    code, output = timeline(str(frames), "-o", str(picture), "--fault", "crash=null")
    assert code == 2 and "--fault" in output and "goes with a scenario" in output, output


def test_a_scenario_that_writes_no_records_is_refused_naming_the_likely_cause(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "silent.yaml"
    scenario.write_text(CRASHING.replace('"Session,Database,Mail"', '""'))
    code, output = timeline(str(scenario), "-o", str(tmp_path / "silent.svg"))
    assert code == 2
    assert "no records to draw" in output and "BillingClass" in output
    assert not (tmp_path / "silent.svg").exists()
