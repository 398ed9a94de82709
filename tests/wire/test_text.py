"""The one-line text form of a frame (simulator/wire/text.py), from hand-written JSON
forms: the columns, each record kind's details, values outside the tables, and the
helpers. (tests/commands/test_tail.py renders real frames of every kind end to end.)"""

from __future__ import annotations

from typing import Any

import pytest
from samples import ALICE, SERVER, SESSION_REC, STAMP

from simulator.errors import printable
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame
from simulator.wire.records import Frame
from simulator.wire.text import (
    SHOWN_ERRORS,
    abbreviate,
    frame_line,
    hundredths,
    thousands,
    time_of_day,
)


def json_form(
    struct_type: int, bill_class: int, rec: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "Len": 1000,
        "StructType": struct_type,
        "Class": bill_class,
        "ServerName": "CN=Mail01/O=Acme",
        "TimeStamp": "2026-11-21T09:15:00.00Z",
        "rec": rec,
        **extra,
    }


SESSION = json_form(
    c.BILL_SESSIONREC,
    c.BILL_CLASS_SESSION,
    {
        "SessionID": {"Index": 3, "SeqNo": 1},
        "Action": c.BILL_SESSION_START,
        "Username": ALICE,
        "BytesIn": 400,
        "BytesOut": 2200,
        "NetAdr": "10.1.2.3",
    },
    seq=7,
)


def test_the_columns_of_a_line() -> None:
    assert frame_line(SESSION) == (
        "09:15:00.00 Mail01   session     START     Alice Smith/Acme       "
        "sid 3.1  in 400  out 2,200  10.1.2.3  #7"
    )


def test_server_and_seq_given_win_over_the_frame() -> None:
    line = frame_line(SESSION, server="Hub01", seq="42")
    assert line.startswith("09:15:00.00 Hub01    session ")
    assert line.endswith("  #42")
    without_seq = {key: value for key, value in SESSION.items() if key != "seq"}
    assert "#" not in frame_line(without_seq)


@pytest.mark.parametrize(
    ("struct_type", "bill_class", "rec", "expected"),
    [
        (
            c.BILL_DBREC,
            c.BILL_CLASS_DATABASE,
            {
                "SessionID": {"Index": 3, "SeqNo": 1},
                "Action": c.BILL_DB_CLOSE,
                "Username": ALICE,
                "DBOpenTime": 123_456,
                "ReplicaID": "85258A3B:0052C1F0",
            },
            "database    CLOSE     Alice Smith/Acme       "
            "sid 3.1  db 85258A3B:0052C1F0  open 20:34.56",
        ),
        (
            c.BILL_AGENTREC,
            c.BILL_CLASS_AGENT,
            {
                "ElapsedRunTime": 360_000 + 357,
                "Flags": 0x5,
                "UserName": ALICE,
                "TaskName": "AMgr",
                "DatabaseName": "apps/orders.nsf",
            },
            "agent       RUN       Alice Smith/Acme       "
            "AMgr  apps/orders.nsf  ran 1:00:03.57  warnings,public",
        ),
        (
            c.BILL_HTTPREQREC,
            c.BILL_CLASS_HTTPREQUEST,
            {
                "HttpContentLength": 5120,
                "HttpReqTimeMs": 35,
                "HttpStatusCode": 404,
                "AuthUser": None,
                "Partner": None,
                "RequestLine": "POST /apps/orders.nsf HTTP/1.1",
            },
            "httprequest POST      -                      "
            "/apps/orders.nsf  404  5,120 bytes  35 ms",
        ),
    ],
)
def test_details_of_a_record_kind(
    struct_type: int, bill_class: int, rec: dict[str, Any], expected: str
) -> None:
    assert frame_line(json_form(struct_type, bill_class, rec)) == "09:15:00.00 Mail01   " + expected


def test_values_outside_the_tables_are_named_by_number() -> None:
    odd = json_form(c.BILL_SESSIONREC, 0x80, {"SessionID": None, "Action": 9, "Username": "x"})
    line = frame_line(odd)
    assert "class 0x80" in line
    assert "action 9" in line
    assert "sid ?" in line


def test_custom_and_unknown_record_types() -> None:
    raw = json_form(32001, c.BILL_CLASS_SESSION, {"raw": "010203"})
    assert frame_line(raw).endswith("type 32001                        3 bytes of record")
    named = json_form(32002, c.BILL_CLASS_SESSION, {"Count": 3, "Name": "x"})
    assert frame_line(named).endswith("type 32002                        Count 3  Name x")


def test_a_time_stamp_in_id_form_is_kept_whole() -> None:
    zoned = {**SESSION, "TimeStamp": "852563FC:006CDCC0"}
    assert frame_line(zoned).startswith("852563FC:006CDCC0 Mail01 ")
    assert time_of_day("852563FC:006CDCC0") == ("852563FC:006CDCC0", None)
    assert time_of_day("2026-11-21T09:15:00.00Z") == ("09:15:00.00", "2026-11-21")


def test_helpers() -> None:
    assert abbreviate("CN=Alice Smith/OU=Sales/O=Acme/C=US") == "Alice Smith/Sales/Acme/US"
    assert abbreviate("Alice Smith/Acme") == "Alice Smith/Acme"
    assert abbreviate("CN=Alice/L=Here") == "Alice/L=Here"  # only CN, OU, O, C are dropped
    assert hundredths(0) == "0:00.00"
    assert hundredths(357) == "0:03.57"
    assert hundredths(90_000) == "15:00.00"
    assert hundredths(360_000 + 6_000 + 101) == "1:01:01.01"
    assert thousands(48_213) == "48,213"
    assert thousands(True) == "True"
    assert thousands(None) == "None"


def test_a_name_byte_that_is_not_utf8_shows_as_the_json_forms_escape() -> None:
    """One way of showing names everywhere: the line writes to a strict UTF-8 stream, with
    the byte as `\\udcff`, as `decode`'s JSON form writes it."""
    codec = FrameCodec()
    name = b"CN=\xffnn Lee/O=Acme".decode("utf-8", "surrogateescape")
    frame = Frame(1, 1, SERVER, STAMP, SESSION_REC._replace(Username=name))
    obj = JsonDecoder(codec)(codec.encode(codec.decode(codec.encode(frame))), 0, None)
    line = frame_line(obj)
    line.encode("utf-8")  # strict: no lone surrogate left
    assert "\\udcffnn Lee/Acme" in line
    assert "CN=\\udcffnn Lee/O=Acme" in dumps_frame(obj)
    assert printable(name) == "CN=\\udcffnn Lee/O=Acme"
    assert b"CN=\xffnn Lee/O=Acme".decode("utf-8", SHOWN_ERRORS) == printable(name)
