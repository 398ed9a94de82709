"""BillingWriter: a record written from its field values is the record written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator.domino.billing import BillingWriter, SequencedFrame
from simulator.wire import constants as c
from simulator.wire.codec import EncodeError, FrameCodec
from simulator.wire.records import DbRec, SessionID, SessionRec
from simulator.wire.timedate import TimeDate

START = datetime(2026, 11, 21, 9, tzinfo=UTC)


def writer(
    mask: int = c.BILL_CLASS_SESSION | c.BILL_CLASS_DATABASE,
) -> tuple[BillingWriter, list[SequencedFrame]]:
    frames: list[SequencedFrame] = []
    return BillingWriter(FrameCodec(), "CN=Srv/O=Acme", START, mask, frames.append), frames


def test_write_values_writes_the_frame_write_writes_and_counts_it_alike() -> None:
    session = SessionRec(SessionID(3, 7), 2, "CN=Ann/O=Acme", 100, 200, "10.0.0.1")
    db = DbRec(SessionID(3, 7), 4, "CN=Ann/O=Acme", 1234, TimeDate(0x0052C1F0, 0x85258A3B))
    by_record, records = writer()
    by_values, values = writer()
    for now, rec, bill_class in (
        (5, session, c.BILL_CLASS_SESSION),
        (900_000, db, c.BILL_CLASS_DATABASE),
    ):
        assert by_record.write(rec, now, bill_class, rec[1])
        assert by_values.write_values(type(rec), tuple(rec), now, bill_class, rec[1])
    assert values == records
    assert by_values.by_struct_type == by_record.by_struct_type
    assert by_values.frames == 2


def test_write_values_of_a_class_not_billed_writes_nothing() -> None:
    w, frames = writer(mask=c.BILL_CLASS_DATABASE)
    assert not w.write_values(SessionRec, ((1, 1), 2, "a", 0, 0, "b"), 0, c.BILL_CLASS_SESSION, 2)
    assert frames == [] and w.frames == 0


def test_write_values_says_what_write_says_of_a_value_that_does_not_fit() -> None:
    values = (SessionID(1, 1), 2, "a", 1 << 40, 0, "b")
    w, frames = writer()
    with pytest.raises(EncodeError) as by_record:
        w.write(SessionRec(*values), 0, c.BILL_CLASS_SESSION, 2)
    with pytest.raises(EncodeError) as by_values:
        w.write_values(SessionRec, values, 0, c.BILL_CLASS_SESSION, 2)
    assert str(by_values.value) == str(by_record.value)
    assert "1099511627776" in str(by_values.value)
    assert frames == [] and w.frames == 0
