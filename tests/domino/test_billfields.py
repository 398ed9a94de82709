"""What one record bills, and to whom: the attribution a fault's explanation relies on."""

from __future__ import annotations

from samples import (
    AGENT_REC,
    ALICE,
    DB_REC,
    DOC_REC,
    HTTP_REC,
    HUB,
    MAIL_REC,
    REPL_REC,
    SERVER,
    SESSION_REC,
    STAMP,
)

from simulator.domino.billfields import bill_fields_of
from simulator.domino.server import ANONYMOUS_WEB_USER
from simulator.wire import constants as c
from simulator.wire.records import Frame, RawRec


def test_each_kind_bills_its_user_its_own_fields() -> None:
    assert bill_fields_of(SESSION_REC) == (
        ALICE,
        {"sessions": 1, "bytes_in": SESSION_REC.BytesIn, "bytes_out": SESSION_REC.BytesOut},
    )
    assert bill_fields_of(DB_REC) == (ALICE, {"db_open_time": DB_REC.DBOpenTime})
    assert bill_fields_of(DOC_REC) == (DOC_REC.Username, {"charges": 0.05, "documents": 1})
    assert bill_fields_of(MAIL_REC) == (
        MAIL_REC.Originator,
        {"mail": 1, "mail_bytes": MAIL_REC.MessageSize},
    )
    assert bill_fields_of(AGENT_REC) == (
        AGENT_REC.UserName,
        {"agents": 1, "agent_time": AGENT_REC.ElapsedRunTime},
    )


def test_a_web_request_without_an_authenticated_user_bills_anonymous() -> None:
    assert HTTP_REC.AuthUser is None
    assert bill_fields_of(HTTP_REC) == (
        ANONYMOUS_WEB_USER,
        {"web": 1, "web_bytes": HTTP_REC.HttpContentLength},
    )
    named = HTTP_REC._replace(AuthUser=ALICE)
    assert bill_fields_of(named)[0] == ALICE


def test_a_replication_bills_the_other_server() -> None:
    assert (REPL_REC.Source, REPL_REC.Destination) == (HUB, SERVER)
    fields = {
        "replication_bytes_in": REPL_REC.BytesIn,
        "replication_bytes_out": REPL_REC.BytesOut,
    }
    assert bill_fields_of(REPL_REC, SERVER) == (HUB, fields)
    assert bill_fields_of(REPL_REC, HUB) == (SERVER, fields)
    # A frame's ServerName is the server that wrote it, unless one is given.
    frame = Frame(c.BILL_REPLREC, c.BILL_CLASS_REPLICATION, HUB, STAMP, REPL_REC)
    assert bill_fields_of(frame) == (SERVER, fields)
    assert bill_fields_of(frame, SERVER) == (HUB, fields)


def test_a_record_no_table_reads_bills_nobody() -> None:
    raw = Frame(32001, c.BILL_CLASS_DATABASE, SERVER, STAMP, RawRec(b"\x01\x02"))
    assert bill_fields_of(raw) == (None, {})
