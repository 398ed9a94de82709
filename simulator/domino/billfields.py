"""What one record bills: the user it is billed to and the bill fields (docs/addin.md) it carries.

The same attribution as the run's ledger (`simulator.domino.server.UserLedger`) and the
add-in's bill (`simulator.addin.bill`) make, for one record at a time, so that an injected
fault can say which (user, field) of the bill each frame it touched could move
(docs/faults.md). Amounts are the values the record holds: cumulative ones (session
bytes, DBOpenTime) as the record states them, not a share of a total.
"""

from __future__ import annotations

from simulator.domino.server import ANONYMOUS_WEB_USER
from simulator.wire.records import (
    AgentRec,
    DbRec,
    DocumentRec,
    Frame,
    HttpReqRec,
    MailRec,
    Record,
    ReplRec,
    SessionRec,
)

BillFields = dict[str, int | float]


def bill_fields_of(
    record: Record | Frame, server: str | None = None
) -> tuple[str | None, BillFields]:
    """(user, {bill field: amount}) of a record, or of a frame's record; (None, {}) for a
    record that bills nobody (a custom or undecoded one).

    Every SESSIONREC carries `sessions: 1` (any of a session's records makes a consumer
    count the session) with its BytesIn and BytesOut; a DBREC its DBOpenTime; a DOCUMENT
    its Charge and `documents: 1`; a MAILREC `mail: 1` and its MessageSize, for the
    Originator; an AGENTREC `agents: 1` and its ElapsedRunTime, for the signer; an
    HTTPREQREC `web: 1` and its HttpContentLength, for the AuthUser or Anonymous. A
    REPLREC is billed to the other server: the Source unless that is the server that
    wrote it (`server`, or the frame's ServerName), else the Destination.
    """
    if isinstance(record, Frame):
        return bill_fields_of(record.rec, record.ServerName if server is None else server)
    if isinstance(record, SessionRec):
        return record.Username, {
            "sessions": 1,
            "bytes_in": record.BytesIn,
            "bytes_out": record.BytesOut,
        }
    if isinstance(record, DbRec):
        return record.Username, {"db_open_time": record.DBOpenTime}
    if isinstance(record, DocumentRec):
        return record.Username, {"charges": record.Charge, "documents": 1}
    if isinstance(record, MailRec):
        return record.Originator, {"mail": 1, "mail_bytes": record.MessageSize}
    if isinstance(record, ReplRec):
        party = record.Destination if record.Source == server else record.Source
        return party, {
            "replication_bytes_in": record.BytesIn,
            "replication_bytes_out": record.BytesOut,
        }
    if isinstance(record, AgentRec):
        return record.UserName, {"agents": 1, "agent_time": record.ElapsedRunTime}
    if isinstance(record, HttpReqRec):
        user = record.AuthUser if record.AuthUser is not None else ANONYMOUS_WEB_USER
        return user, {"web": 1, "web_bytes": record.HttpContentLength}
    return None, {}
