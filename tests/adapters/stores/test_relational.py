"""The SQLite and PostgreSQL stores: every record type stored and read back field for field,
redeliveries counted once, rejects kept, frames without run and seq never dropped."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from samples import FRAMES, SERVER, SERVER_CN, STAMP

from simulator.adapters.stores import open_store, read_rows
from simulator.addin.rows import RowMaker, us_from_datetime
from simulator.addin.store import Committed, Received, Rejected, Store
from simulator.errors import BillsimError, InputError
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder
from simulator.wire.layout import DBID, DWORD, char
from simulator.wire.records import CustomRec, Frame, custom_kind
from simulator.wire.timedate import TimeDate

NOTECREATE = custom_kind(
    "NOTECREATEREC",
    32001,
    c.BILL_CLASS_DATABASE,
    (("Username", char(257)), ("dbNoteID", DWORD), ("ReplicaID", DBID)),
)
UNDECLARED = 32002
CODEC = FrameCodec(custom_kinds=[NOTECREATE])
SENT_US = 1_795_000_000_123_456
RECEIVED_US = SENT_US + 2_500


def frames() -> list[bytes]:
    """One frame of each built-in kind, a declared custom one and an undeclared one."""
    out = [CODEC.encode(frame) for frame in FRAMES.values()]
    custom = CustomRec(("CN=Alice Smith/O=Acme", 0x20FA, TimeDate(0x0052C1F1, 0x85258A3B)))
    out.append(
        CODEC.encode(Frame(NOTECREATE.struct_type, NOTECREATE.bill_class, SERVER, STAMP, custom))
    )
    other = custom_kind("OTHER", UNDECLARED, 1, (("n", DWORD),))
    declared = FrameCodec(custom_kinds=[other])
    out.append(declared.encode(Frame(UNDECLARED, 1, SERVER, STAMP, CustomRec((7,)))))
    return out


def received(frame: bytes, seq: int | None, run: str | None = "run-1") -> Received:
    return Received(SERVER_CN, run, seq, "domino/billing/Mail01/x", frame, SENT_US, RECEIVED_US)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'billing.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def opened(store_url: str) -> Iterator[Callable[[], Store]]:
    stores: list[Store] = []

    def open_one() -> Store:
        stores.append(open_store(store_url, CODEC))
        return stores[-1]

    yield open_one
    for store in stores:
        store.close()


def test_every_record_type_reads_back_field_for_field(
    store_url: str, opened: Callable[[], Store]
) -> None:
    store = opened()
    sent = frames()
    for seq, frame in enumerate(sent, 1):
        store.add(received(frame, seq))
    assert store.commit() == Committed(stored=len(sent))
    tables = read_rows(store_url, CODEC)
    maker = RowMaker(JsonDecoder(CODEC))
    expected: dict[str, list[dict[str, Any]]] = {}
    for seq, frame in enumerate(sent, 1):
        table, row = maker.row(received(frame, seq))
        expected.setdefault(table.name, []).append(dict(zip(table.column_names, row, strict=True)))
    assert sorted(expected) == [
        "agentrec",
        "custom",
        "custom_notecreaterec",
        "dbrec",
        "document",
        "httpreqrec",
        "mailrec",
        "replrec",
        "sessionrec",
    ]
    assert {name: tables[name] for name in expected} == expected
    assert tables["rejects"] == []
    # Spot checks of what the rows mean, beyond agreeing with the row maker.
    (mail,) = tables["mailrec"]
    assert mail["Recipients"] == "CN=Bob Jones/O=Acme,CN=Carol Diaz/O=Acme"
    assert mail["seq"] == 5 and mail["run"] == "run-1" and mail["server"] == SERVER_CN
    assert mail["time_stamp"] == datetime(2026, 11, 21, 9, 15, tzinfo=UTC)
    assert mail["sent"] == datetime(2026, 11, 18, 11, 6, 40, 123456, tzinfo=UTC)  # SENT_US
    (note,) = tables["custom_notecreaterec"]
    assert (note["dbNoteID"], note["ReplicaID"]) == (0x20FA, "85258A3B:0052C1F1")
    (raw,) = tables["custom"]
    assert raw["StructType"] == UNDECLARED
    # The bytes after the header, as decode shows them: the alignment gap, then n = 7.
    assert raw["raw"] == sent[-1][CODEC.header_size : raw["Len"]]
    assert raw["raw"][4:8] == (7).to_bytes(4, "little")


def test_times_to_the_last_microsecond_a_datetime_holds_and_no_further(
    store_url: str, opened: Callable[[], Store]
) -> None:
    """A `sent` of any time a datetime holds is stored as that time, to the µs, however
    the store writes times; one past the last fails the commit (the add-in stops,
    acknowledging nothing), as when every time went through a datetime."""
    frame = CODEC.encode(FRAMES["SESSIONREC"])
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    times = [first, datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), last]
    store = opened()
    for seq, moment in enumerate(times, 1):
        item = received(frame, seq)
        item.sent_us = us_from_datetime(moment)
        store.add(item)
    assert store.commit() == Committed(stored=3)
    assert [row["sent"] for row in read_rows(store_url)["sessionrec"]] == times
    store.close()
    beyond = received(frame, 4)
    beyond.sent_us = us_from_datetime(last) + 1
    again = opened()
    again.add(beyond)
    with pytest.raises(OverflowError):
        again.commit()


def test_a_redelivered_frame_is_one_row_and_counted(
    store_url: str, opened: Callable[[], Store]
) -> None:
    frame = CODEC.encode(FRAMES["SESSIONREC"])
    store = opened()
    store.add(received(frame, 1))
    store.add(received(frame, 1))  # within the batch
    store.add(received(frame, 2))
    store.add(received(CODEC.encode(FRAMES["DBREC"]), 3))
    first = store.commit()
    assert first == Committed(stored=3, duplicates=1)
    # By class, the frames stored: the duplicate is not one of them.
    assert first.stored_by_class == (("database", 1), ("session", 2))
    store.close()
    again = opened()  # a restarted add-in, the broker redelivering what it had not acked
    again.add(received(frame, 2))
    again.add(received(frame, 1, run="run-2"))  # another run: a new frame
    second = again.commit()
    assert second == Committed(stored=1, duplicates=1)
    assert second.stored_by_class == (("session", 1),)
    rows = read_rows(store_url)["sessionrec"]
    assert [(row["run"], row["seq"]) for row in rows] == [
        ("run-1", 1),
        ("run-1", 2),
        ("run-2", 1),
    ]


def test_a_commit_counts_each_servers_frames_duplicates_and_rejects_apart(
    store_url: str, opened: Callable[[], Store]
) -> None:
    """Two servers in one batch, the same (run, seq) on both: one frame each, not a
    duplicate; the duplicates, the rejects and the frames stored told apart by server,
    on the straight path and on a redelivery's."""
    session = CODEC.encode(FRAMES["SESSIONREC"])
    database = CODEC.encode(FRAMES["DBREC"])

    def on(server: str, frame: bytes, seq: int) -> Received:
        topic = f"domino/billing/{server}/session"
        return Received(server, "run-1", seq, topic, frame, SENT_US, RECEIVED_US)

    store = opened()
    store.add(on("Mail01", session, 1))
    store.add(on("Mail02", session, 1))
    store.add(on("Mail02", database, 2))
    store.add(on("Mail02", session[:60], 3))  # does not decode: Mail02's reject
    store.add(Rejected(None, None, None, "domino/billing", b"?", "the topic names no server", 0))
    first = store.commit()
    assert first == Committed(stored=3, rejected=2)
    assert first.stored_by == (
        (("Mail01", "session"), 1),
        (("Mail02", "database"), 1),
        (("Mail02", "session"), 1),
    )
    assert (first.duplicates_by, first.rejected_by) == ((), (("", 1), ("Mail02", 1)))
    # Redelivered: Mail02's session and database again, with a new frame of each server.
    store.add(on("Mail02", session, 1))
    store.add(on("Mail01", session, 4))
    store.add(on("Mail02", database, 2))
    store.add(on("Mail02", session, 5))
    second = store.commit()
    assert second == Committed(stored=2, duplicates=2)
    assert second.stored_by == ((("Mail01", "session"), 1), (("Mail02", "session"), 1))
    assert second.duplicates_by == (("Mail02", 2),)
    assert second.stored_by_class == (("session", 2),)


def test_a_redelivery_in_one_table_costs_no_new_frame_of_another(
    store_url: str, opened: Callable[[], Store]
) -> None:
    """A batch whose new frames go to one table and whose redelivered one to another: the
    new ones stored once, the redelivered one counted, whichever table is written first."""
    session = CODEC.encode(FRAMES["SESSIONREC"])
    database = CODEC.encode(FRAMES["DBREC"])
    store = opened()
    store.add(received(session, 1))
    assert store.commit() == Committed(stored=1)
    store.add(received(database, 2))
    store.add(received(database, 3))
    store.add(received(session, 1))  # redelivered
    store.add(received(session, 4))
    committed = store.commit()
    assert committed == Committed(stored=3, duplicates=1)
    assert committed.stored_by_class == (("database", 2), ("session", 1))
    tables = read_rows(store_url)
    assert [row["seq"] for row in tables["dbrec"]] == [2, 3]
    assert [row["seq"] for row in tables["sessionrec"]] == [1, 4]


def test_frames_without_run_and_seq_are_all_kept(
    store_url: str, opened: Callable[[], Store]
) -> None:
    frame = CODEC.encode(FRAMES["DBREC"])
    store = opened()
    for _ in range(3):
        store.add(received(frame, None, run=None))
    assert store.commit() == Committed(stored=3)
    store.add(received(frame, None, run=None))
    assert store.commit() == Committed(stored=1)
    assert len(read_rows(store_url)["dbrec"]) == 4


def test_rejects_are_kept_with_their_reason(store_url: str, opened: Callable[[], Store]) -> None:
    store = opened()
    store.add(
        Rejected(SERVER_CN, "run-1", 7, "domino/billing/Mail01/mail", b"\x00\x01", "short", 5)
    )
    # A frame that does not decode under the store's layout becomes a reject too.
    broken = bytearray(CODEC.encode(FRAMES["SESSIONREC"]))
    broken[0:2] = (30).to_bytes(2, "little")  # Len shorter than the header
    store.add(received(bytes(broken), 8))
    assert store.commit() == Committed(rejected=2)
    first, second = read_rows(store_url)["rejects"]
    assert first == {
        "server": SERVER_CN,
        "run": "run-1",
        "seq": 7,
        "topic": "domino/billing/Mail01/mail",
        "payload": b"\x00\x01",
        "reason": "short",
        "received_at": datetime(1970, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
    }
    assert second["seq"] == 8 and second["payload"] == bytes(broken)
    assert second["reason"].startswith("does not decode")


def test_a_redelivered_reject_is_one_row_and_counted_a_duplicate(
    store_url: str, opened: Callable[[], Store]
) -> None:
    """A frame cut short (a reject) that the broker delivers again after the add-in was
    killed: kept once, the copy a duplicate, not a second reject; on the straight path
    and on a redelivery's (a frame redelivered in the same batch). One without run and
    seq cannot be told apart: every copy is kept."""
    short = CODEC.encode(FRAMES["SESSIONREC"])[:60]
    frame = CODEC.encode(FRAMES["DBREC"])
    anonymous = Rejected(None, None, None, "domino/billing", b"?", "the topic names no server", 0)
    store = opened()
    store.add(received(short, 7))
    store.add(received(short, 7))  # within the batch
    store.add(received(frame, 1))
    store.add(anonymous)
    first = store.commit()
    assert first == Committed(stored=1, duplicates=1, rejected=2)
    assert (first.duplicates_by, first.rejected_by) == (
        ((SERVER_CN, 1),),
        (("", 1), (SERVER_CN, 1)),
    )
    store.close()
    again = opened()  # restarted: the broker redelivers what it had not acked
    again.add(received(short, 7))
    again.add(anonymous)
    second = again.commit()  # rejects only
    assert second == Committed(duplicates=1, rejected=1)
    again.add(received(frame, 1))
    again.add(received(short, 7))
    again.add(received(short, 8))
    third = again.commit()  # with a frame already there
    assert third == Committed(duplicates=2, rejected=1)
    assert third.duplicates_by == ((SERVER_CN, 2),)
    rejects = read_rows(store_url)["rejects"]
    assert [(row["server"], row["seq"]) for row in rejects] == [
        (SERVER_CN, 7),
        (None, None),
        (None, None),
        (SERVER_CN, 8),
    ]


def test_a_failed_commit_stores_nothing_and_the_next_retries_it(
    store_url: str, opened: Callable[[], Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = opened()
    frame = CODEC.encode(FRAMES["AGENTREC"])
    store.add(received(frame, 1))
    # A row the database refuses (a column short) fails the whole batch.
    real = RowMaker.row

    def bad_row(self: RowMaker, item: Received) -> Any:
        table, row = real(self, item)
        return table, row[:-1]

    monkeypatch.setattr(RowMaker, "row", bad_row)
    with pytest.raises(Exception):  # noqa: B017 - each database says it its own way
        store.commit()
    monkeypatch.undo()
    assert read_rows(store_url).get("agentrec", []) == []
    # What the failed commit held is still buffered: the next commit makes it durable.
    store.add(received(frame, 2))
    assert store.commit() == Committed(stored=2)
    assert [row["seq"] for row in read_rows(store_url)["agentrec"]] == [1, 2]


@pytest.mark.parametrize(
    "url",
    ["mysql://localhost/billing", "billing.db", "sqlite:///", "nbf:", "sqlite://billing.db"],
)
def test_an_unknown_or_malformed_url_is_bad_input(url: str) -> None:
    with pytest.raises(InputError, match="sqlite:///PATH, postgresql://… or nbf:PATH"):
        open_store(url)


def test_a_malformed_postgresql_url_is_bad_input() -> None:
    with pytest.raises(InputError, match="malformed PostgreSQL URL"):
        open_store("postgresql://127.0.0.1/db?nosuch=1")


def test_an_unreachable_postgresql_names_the_url_without_its_password() -> None:
    with pytest.raises(BillsimError) as caught:
        open_store("postgresql://u:secret@127.0.0.1:1/billing?connect_timeout=2")
    assert not isinstance(caught.value, InputError)
    assert "postgresql://u@127.0.0.1:1/billing" in str(caught.value)
    assert "secret" not in str(caught.value)
    # libpq's reason, not only its hint that follows it.
    assert "port 1 failed: Connection refused" in str(caught.value)


def test_reading_a_store_that_does_not_exist_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such SQLite store"):
        read_rows(f"sqlite:///{tmp_path / 'none.db'}")
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(InputError, match="no such NBF store"):
        read_rows(f"nbf:{tmp_path / 'none.nbf'}")


def test_a_path_no_store_can_be_at_is_bad_input_before_anything_is_written(
    tmp_path: Path,
) -> None:
    text = tmp_path / "text.db"
    text.write_text("hello\n")
    cases = [
        (f"sqlite:///{tmp_path}", f"{tmp_path}: is a directory, not an SQLite store"),
        (f"nbf:{tmp_path}", f"{tmp_path}: is a directory, not an NBF store"),
        (
            f"sqlite:///{tmp_path / 'no' / 'x.db'}",
            f"cannot create the SQLite store: its directory {tmp_path / 'no'} does not exist",
        ),
        (
            f"nbf:{text / 'x.nbf'}",
            f"cannot create the NBF store: its directory {text} is not a directory",
        ),
        (f"sqlite:///{text}", f"{text}: cannot open it as an SQLite store: file is not a database"),
    ]
    for url, message in cases:
        with pytest.raises(InputError) as caught:
            open_store(url)
        assert message in str(caught.value)
    assert text.read_text() == "hello\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.db"]


def test_reading_a_directory_says_it_is_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory, not an SQLite store"):
        read_rows(f"sqlite:///{tmp_path}")
    with pytest.raises(InputError, match="is a directory, not an NBF store"):
        read_rows(f"nbf:{tmp_path}")


def test_a_database_of_other_tables_is_no_store_and_one_of_none_an_empty_store(
    tmp_path: Path,
) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE foo (x)")
    with pytest.raises(InputError) as caught:
        read_rows(f"sqlite:///{other}")
    assert (caught.value.file, caught.value.message) == (
        str(other),
        "not a billsim store: it has no sessionrec table (its tables: foo)",
    )
    # What the add-in leaves when it never committed: a database without tables, or the
    # 0-byte file SQLite writes its header to on first use.
    fresh = tmp_path / "fresh.db"
    open_store(f"sqlite:///{fresh}").close()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert read_rows(f"sqlite:///{fresh}") == read_rows(f"sqlite:///{empty}") == {}


def test_an_nbf_file_reads_as_the_rows_a_relational_store_holds(tmp_path: Path) -> None:
    path = tmp_path / "billing.nbf"
    sent = frames()
    path.write_bytes(b"".join(sent))
    tables = read_rows(f"nbf:{path}", CODEC)
    assert sum(len(rows) for rows in tables.values()) == len(sent)
    (session,) = tables["sessionrec"]
    assert (session["server"], session["run"], session["seq"]) == (SERVER_CN, None, 1)
    assert session["Username"] == "CN=Alice Smith/O=Acme"
