"""Frames the intake read (the add-in's way) are stored exactly as frames a store reads
itself; SQLite writes times as `datetime.isoformat` does without making datetimes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from samples import DB_REC, FRAMES, JDN, SERVER, SERVER_CN, STAMP

from simulator.adapters.stores import open_store, read_rows
from simulator.adapters.stores.sqlite import iso_timestamp
from simulator.addin import rows as addin_rows
from simulator.addin.intake import Intake, Message
from simulator.addin.store import Committed, Received, Store
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.layout import DBID, DWORD, NUMBER, Layout, char
from simulator.wire.records import CustomRec, Frame, custom_kind
from simulator.wire.timedate import TimeDate

NOTECREATE = custom_kind(
    "NOTECREATEREC",
    32001,
    c.BILL_CLASS_DATABASE,
    (("Username", char(257)), ("dbNoteID", DWORD), ("ReplicaID", DBID), ("Cost", NUMBER)),
)
SENT_US = 1_795_000_000_123_456
TOPIC = f"domino/billing/{SERVER_CN}/session"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'billing.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def intake() -> Intake:
    return Intake(Layout.WIN32, [NOTECREATE])


@pytest.fixture
def store(store_url: str, intake: Intake) -> Iterator[Store]:
    opened = open_store(store_url, intake.rows)
    yield opened
    opened.close()


def frames(codec: FrameCodec) -> list[bytes]:
    out = [codec.encode(frame) for frame in FRAMES.values()]
    custom = CustomRec(("CN=Alice Smith/O=Acme", 0x20FA, TimeDate(0x0052C1F1, 0x85258A3B), 0.25))
    out.append(codec.encode(Frame(32001, c.BILL_CLASS_DATABASE, SERVER, STAMP, custom)))
    other = custom_kind("OTHER", 32002, 1, (("n", DWORD),))
    out.append(
        FrameCodec(codec.layout, custom_kinds=[other]).encode(
            Frame(32002, 1, SERVER, TimeDate(0, JDN | 0x8500_0000), CustomRec((7,)))
        )
    )
    return out


def taken(intake: Intake, frame: bytes, seq: int, received_us: int) -> Received:
    props = {"seq": str(seq), "run": "run-1", "sent": str(SENT_US)}
    item = intake.take(Message(TOPIC, SERVER_CN, frame, False, props), received_us)
    assert isinstance(item, Received), item
    return item


def test_a_frame_the_intake_read_is_stored_as_one_the_store_reads(
    store_url: str, store: Store, intake: Intake
) -> None:
    sent = frames(intake.codec)
    items = [taken(intake, frame, seq, SENT_US + seq) for seq, frame in enumerate(sent, 1)]
    assert all(item.frame_row is not None for item in items)
    for item in items:
        store.add(item)
    assert store.commit() == Committed(stored=len(sent))
    # The same frames under another run, read by the store itself (no FrameRow).
    for item in items:
        store.add(Received(item.server, "run-2", *_after_run(item)))
    assert store.commit() == Committed(stored=len(sent))
    tables = read_rows(store_url, intake.codec)
    assert sum(len(rows) for rows in tables.values()) == 2 * len(sent)
    for name, rows in tables.items():
        by_run: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_run.setdefault(row["run"], []).append({k: v for k, v in row.items() if k != "run"})
        assert by_run.get("run-1") == by_run.get("run-2"), name
    (note,) = [row for row in tables["custom_notecreaterec"] if row["run"] == "run-1"]
    assert (note["dbNoteID"], note["ReplicaID"], note["Cost"]) == (
        0x20FA,
        "85258A3B:0052C1F1",
        0.25,
    )
    (session,) = [row for row in tables["sessionrec"] if row["run"] == "run-1"]
    assert session["time_stamp"] == datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
    assert session["received_at"] == datetime.fromtimestamp((SENT_US + 1) / 1e6, UTC)


def _after_run(item: Received) -> tuple[Any, ...]:
    return (item.seq, item.topic, item.frame, item.sent_us, item.received_us)


def test_a_time_stamp_that_names_no_time_is_taken_and_the_store_rejects_it(
    store_url: str, store: Store, intake: Intake
) -> None:
    frame = intake.codec.encode(FRAMES["DBREC"]._replace(TimeStamp=TimeDate(8_640_000, JDN)))
    item = taken(intake, frame, 1, SENT_US)
    assert item.frame_row is None  # taken as it is: an NBF store keeps it
    store.add(item)
    assert store.commit() == Committed(rejected=1)
    (reject,) = read_rows(store_url)["rejects"]
    assert reject["reason"] == "does not decode: TIMEDATE time of day out of range: 8640000 ticks"
    assert reject["payload"] == frame


def test_iso_timestamp_is_what_isoformat_writes() -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    chance = random.Random(7)
    lowest = (datetime(1, 1, 1, tzinfo=UTC) - epoch) // timedelta(microseconds=1)
    highest = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - epoch) // timedelta(
        microseconds=1
    )
    samples = [lowest, highest, 0, -1, 1, 86_400_000_000 - 1, SENT_US]
    samples += [chance.randint(lowest, highest) for _ in range(20_000)]
    for us in samples:
        expected = (epoch + timedelta(microseconds=us)).isoformat(timespec="microseconds")
        assert iso_timestamp(us) == expected


def test_names_and_ids_read_the_same_however_often_they_repeat(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The readers keep the texts and ids they made; a small bound, so that the caches
    # start again several times over the frames below.
    monkeypatch.setattr(addin_rows, "_CACHE_KEPT", 7)
    codec = intake.codec
    for i in range(60):
        user, replica = f"CN=User {i % 23}/O=Acme", TimeDate(i % 11, 0x85258A3B + i % 5)
        rec = DB_REC._replace(Username=user, ReplicaID=replica)
        frame = bytearray(codec.encode(Frame(4001, c.BILL_CLASS_DATABASE, SERVER, STAMP, rec)))
        if i % 2:
            # Bytes after a name's NUL are no part of it, though they are part of the key.
            at = frame.index(user.encode()) + len(user) + 1
            frame[at : at + 3] = b"xyz"
        values = intake.rows.read(bytes(frame)).values
        assert (values[3], values[7]) == (SERVER, user)
        assert values[9] == f"{0x85258A3B + i % 5:08X}:{i % 11:08X}"
