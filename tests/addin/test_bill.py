"""The bill from stored rows: each bundled scenario's bill equals its run summary's users,
and the rules of docs/addin.md worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bundled_runs import BundledOut, summary_of
from samples import (
    ALICE,
    BOB,
    DB_REC,
    DOC_REC,
    FRAMES,
    HTTP_REC,
    HUB,
    REPL_REC,
    SERVER,
    SERVER_CN,
    SESSION_REC,
    STAMP,
)

from simulator.adapters.stores import open_store, read_rows
from simulator.addin.bill import BillBy, bill
from simulator.addin.rows import RowMaker
from simulator.addin.store import Received
from simulator.domino.server import ANONYMOUS_WEB_USER, BILL_FIELDS
from simulator.scenario.bundled import bundled_scenarios
from simulator.scenario.loader import load_scenario
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import Layout
from simulator.wire.records import Frame, SessionID
from simulator.wire.stream import iter_frame_buffers
from simulator.wire.timedate import TimeDate

SCENARIOS = bundled_scenarios()


def run_scenario(name: str, bundled_out: BundledOut) -> tuple[list[bytes], dict[str, Any]]:
    """The frames of `billsim run NAME --out` and its `--summary` JSON."""
    out = bundled_out(name, Layout.LINUX_X86_64)
    summary = summary_of(out)
    codec = FrameCodec()
    with out.open("rb") as stream:
        frames = [
            bytes(data[start : start + length])
            for data, start, length, _, _ in iter_frame_buffers(stream, codec)
        ]
    return frames, json.loads(summary.read_text())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_bill_of_a_stored_run_is_its_summary(
    name: str, tmp_path: Path, bundled_out: BundledOut
) -> None:
    frames, summary = run_scenario(name, bundled_out)
    codec = FrameCodec(custom_kinds=load_scenario(SCENARIOS[name]).custom_kinds())
    url = f"sqlite:///{tmp_path / 'billing.db'}"
    store = open_store(url, codec)
    for seq, frame in enumerate(frames, 1):
        store.add(Received(SERVER_CN, "run-1", seq, "t", frame, None, 0))
    assert store.commit().stored == len(frames)
    store.close()
    billed = bill(read_rows(url, codec))
    expected: dict[str, dict[str, Any]] = summary["users"]
    # The fields both sides have: more are compared as the summary gains them.
    fields = [f for f in BILL_FIELDS if any(f in totals for totals in expected.values())]
    assert {"sessions", "bytes_in", "db_open_time", "charges", "mail", "web"} <= set(fields)
    # Until the summary bills anonymous requests under ANONYMOUS_WEB_USER, it has no such user.
    names = set(expected) | (set(billed) - ({ANONYMOUS_WEB_USER} - set(expected)))
    for user in sorted(names):
        want = expected.get(user, {})
        got = billed.get(user, {})
        for field in fields:
            zero = 0.0 if field == "charges" else 0
            assert got.get(field, zero) == pytest.approx(want.get(field, zero), abs=0.005), (
                user,
                field,
            )
    assert billed, "every bundled scenario bills someone"


# --- rules worked out by hand ----------------------------------------------------------------

CODEC = FrameCodec()
MAKER = RowMaker(JsonDecoder(CODEC))


def tables(*frames: tuple[Frame, int], run: str | None = "r") -> dict[str, list[dict[str, Any]]]:
    """The rows a store would read back for (frame, seq) pairs."""
    out: dict[str, list[dict[str, Any]]] = {}
    for frame, seq in frames:
        table, row = MAKER.row(Received(SERVER_CN, run, seq, "t", CODEC.encode(frame), None, 0))
        out.setdefault(table.name, []).append(dict(zip(table.column_names, row, strict=True)))
    return out


def at(minutes: int) -> TimeDate:
    return STAMP._replace(ticks=STAMP.ticks + minutes * 6000)


def session(action: int, bytes_in: int, minutes: int, index: int = 3) -> Frame:
    rec = SESSION_REC._replace(
        SessionID=SessionID(index, 1), Action=action, BytesIn=bytes_in, BytesOut=bytes_in * 2
    )
    return FRAMES["SESSIONREC"]._replace(rec=rec, TimeStamp=at(minutes))


def db(action: int, open_time: int, minutes: int, replica: TimeDate | None = None) -> Frame:
    rec = DB_REC._replace(Action=action, DBOpenTime=open_time)
    if replica is not None:
        rec = rec._replace(ReplicaID=replica)
    return FRAMES["DBREC"]._replace(rec=rec, TimeStamp=at(minutes))


def test_a_session_bills_its_end_else_its_last_stamp() -> None:
    stored = tables(
        (session(c.BILL_SESSION_START, 10, 0), 1),
        (session(c.BILL_SESSION_STAMP, 50, 15), 2),
        (session(c.BILL_SESSION_END, 70, 30), 3),
        # Another session (slot 4) whose END was never stored: its last STAMP counts.
        (session(c.BILL_SESSION_START, 5, 0, index=4), 4),
        (session(c.BILL_SESSION_STAMP, 20, 15, index=4), 6),
        (session(c.BILL_SESSION_STAMP, 40, 30, index=4), 5),  # stored out of order
    )
    totals = bill(stored)[ALICE]
    assert (totals["sessions"], totals["bytes_in"], totals["bytes_out"]) == (2, 110, 220)


def test_db_open_time_is_the_last_per_session_and_database() -> None:
    other = TimeDate(0x0052C1F1, 0x85258A3B)
    stored = tables(
        (db(c.BILL_DB_OPEN, 0, 0), 1),
        (db(c.BILL_DB_STAMP, 90_000, 15), 2),
        (db(c.BILL_DB_CLOSE_END, 120_000, 20), 3),
        (db(c.BILL_DB_OPEN, 0, 5, other), 4),
        (db(c.BILL_DB_STAMP, 60_000, 15, other), 5),  # no CLOSE_END stored
    )
    assert bill(stored)[ALICE]["db_open_time"] == 180_000
    by_db = bill(stored, BillBy.DATABASE)
    assert by_db["85258A3B:0052C1F0"]["db_open_time"] == 120_000
    assert by_db["85258A3B:0052C1F1"]["db_open_time"] == 60_000
    assert by_db["85258A3B:0052C1F1"]["sessions"] == 1


def test_replication_is_billed_to_the_other_server() -> None:
    pull = FRAMES["REPLREC"]  # Source Hub01, Destination Mail01: a pull from the hub
    rec = REPL_REC._replace(Source=SERVER, Destination=HUB, BytesIn=7, BytesOut=3)
    push = pull._replace(rec=rec)
    totals = bill(tables((pull, 1), (push, 2)))
    assert set(totals) == {HUB}
    assert totals[HUB]["replication_bytes_in"] == 90_000 + 7
    assert totals[HUB]["replication_bytes_out"] == 1_200 + 3
    assert bill(tables((pull, 1)), BillBy.SERVER)[SERVER_CN]["replication_bytes_in"] == 90_000


def test_mail_agents_documents_and_web() -> None:
    http = FRAMES["HTTPREQREC"]
    signed_in = http._replace(rec=HTTP_REC._replace(AuthUser=BOB, HttpContentLength=100))
    stored = tables(
        (FRAMES["MAILREC"], 1),
        (FRAMES["AGENTREC"], 2),
        (FRAMES["AGENTREC"], 3),
        (FRAMES["DOCUMENT"], 4),
        (FRAMES["DOCUMENT"], 5),
        (http, 6),
        (signed_in, 7),
    )
    totals = bill(stored)
    alice = totals[ALICE]
    assert (alice["mail"], alice["mail_bytes"]) == (1, 48_213)
    assert (alice["agents"], alice["agent_time"]) == (2, 700)
    zoe = totals[DOC_REC.Username]
    assert zoe["documents"] == 2 and zoe["charges"] == pytest.approx(0.10)
    assert (totals[ANONYMOUS_WEB_USER]["web"], totals[ANONYMOUS_WEB_USER]["web_bytes"]) == (1, 5120)
    assert (totals[BOB]["web"], totals[BOB]["web_bytes"]) == (1, 100)
    assert list(totals[ALICE]) == list(BILL_FIELDS)
    by_db = bill(stored, BillBy.DATABASE)
    assert by_db["apps/orders.nsf"]["agents"] == 2  # AGENTREC names its database by path
    assert by_db["85258A3B:0052C1F1"]["documents"] == 2
    (server,) = bill(stored, BillBy.SERVER).values()
    assert (server["mail"], server["agents"], server["documents"], server["web"]) == (1, 2, 2, 2)


def test_from_and_to_keep_the_records_of_the_window() -> None:
    stored = tables(
        (session(c.BILL_SESSION_START, 10, 0), 1),
        (session(c.BILL_SESSION_STAMP, 50, 15), 2),
        (session(c.BILL_SESSION_END, 70, 30), 3),
    )
    start = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)  # STAMP is 09:15
    assert bill(stored, start=start)[ALICE]["bytes_in"] == 70
    # Without the END in the window, the last STAMP in it counts.
    assert bill(stored, end=start.replace(minute=45))[ALICE]["bytes_in"] == 50
    assert bill(stored, start=start.replace(hour=10)) == {}
