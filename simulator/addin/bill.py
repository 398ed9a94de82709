"""The bill from stored rows (`billsim report`, docs/addin.md): totals per user, database or server.

Rows are those of `simulator.addin.rows`, by table name, each a dict by column name, in
the order they were stored. The fields are the run summary's `users` fields, so a bill
and a summary compare one to one (`billsim verify`). docs/addin.md states every rule.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from simulator.domino.server import ANONYMOUS_WEB_USER, BILL_FIELDS
from simulator.wire import constants as c

Row = Mapping[str, Any]
Totals = dict[str, int | float]


class BillBy(StrEnum):
    USER = "user"
    DATABASE = "database"
    SERVER = "server"

    @property
    def key(self) -> str:
        """The JSON key the bill goes under: `users`, `databases`, `servers`."""
        return f"{self.value}s"


def _empty() -> Totals:
    return {name: 0.0 if name == "charges" else 0 for name in BILL_FIELDS}


class _Bill:
    def __init__(self) -> None:
        self.totals: dict[str, Totals] = {}

    def add(self, who: str | None, field: str, amount: float) -> None:
        if who is None:
            return
        totals = self.totals.get(who)
        if totals is None:
            totals = self.totals[who] = _empty()
        totals[field] += amount


def _last_records(rows: Iterable[Row], key_of: Any, final_action: int) -> list[Row]:
    """Per key, its record with `final_action` (an END, a CLOSE_END) if one was stored, else
    its latest by (time stamp, seq, the order stored)."""
    best: dict[Hashable, tuple[tuple[bool, datetime, int, int], Row]] = {}
    for order, row in enumerate(rows):
        rank = (row["Action"] == final_action, row["time_stamp"], row["seq"] or 0, order)
        key = key_of(row)
        held = best.get(key)
        if held is None or rank > held[0]:
            best[key] = (rank, row)
    return [row for _, row in best.values()]


def _first_per_message(rows: Iterable[Row]) -> list[Row]:
    """One MAILREC per message: its OriginatorID names it however many records carry it (a
    copy per next hop, and the delivery record on a recipient's server of the domain);
    the earliest (by time stamp, then seq, then the order stored) stands for it, which
    is the sender's server's."""
    first: dict[tuple[Any, Any], tuple[tuple[datetime, int, int], Row]] = {}
    for order, row in enumerate(rows):
        rank = (row["time_stamp"], row["seq"] or 0, order)
        message = (row["OriginatorID_File"], row["OriginatorID_Note"])
        held = first.get(message)
        if held is None or rank < held[0]:
            first[message] = (rank, row)
    return [row for _, row in first.values()]


def _session_key(row: Row) -> tuple[Any, ...]:
    # SeqNo counts a slot's uses, so (Index, SeqNo) names one session within a server's run.
    return (row["server"], row["run"], row["SessionID_Index"], row["SessionID_SeqNo"])


def replication_party(row: Row) -> str:
    """Whom a REPLREC is billed to: the other server (the scenario's `with`), that is the
    Source when it is not the writing server (a pull), else the Destination."""
    source: str = row["Source"]
    return row["Destination"] if source == row["ServerName"] else source


def _in_window(rows: Iterable[Row], start: datetime | None, end: datetime | None) -> list[Row]:
    return [
        row
        for row in rows
        if (start is None or row["time_stamp"] >= start)
        and (end is None or row["time_stamp"] < end)
    ]


def bill(
    tables: Mapping[str, Iterable[Row]],
    by: BillBy = BillBy.USER,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Totals]:
    """Totals per user (or database, or server), by name; records with a time stamp in
    [start, end) only. Every entry has every field of BILL_FIELDS."""

    def rows(table: str) -> list[Row]:
        return _in_window(tables.get(table, ()), start, end)

    out = _Bill()
    user, database, server = by is BillBy.USER, by is BillBy.DATABASE, by is BillBy.SERVER

    def who(row: Row, user_column: str | None, database_column: str | None) -> str | None:
        if server:
            return str(row["server"])
        column = user_column if user else database_column
        return None if column is None else row[column]

    sessions = _last_records(rows("sessionrec"), _session_key, c.BILL_SESSION_END)
    for row in sessions:
        name = who(row, "Username", None)
        out.add(name, "sessions", 1)
        out.add(name, "bytes_in", row["BytesIn"])
        out.add(name, "bytes_out", row["BytesOut"])
    db_rows = rows("dbrec")
    opened = _last_records(
        db_rows, lambda row: (*_session_key(row), row["ReplicaID"]), c.BILL_DB_CLOSE_END
    )
    for row in opened:
        out.add(who(row, "Username", "ReplicaID"), "db_open_time", row["DBOpenTime"])
        if database:  # a database's sessions: those that opened it
            out.add(row["ReplicaID"], "sessions", 1)
    for row in rows("document"):
        name = who(row, "Username", "ReplicaID")
        out.add(name, "charges", row["Charge"])
        out.add(name, "documents", 1)
    for row in _first_per_message(rows("mailrec")):
        name = who(row, "Originator", None)
        out.add(name, "mail", 1)
        out.add(name, "mail_bytes", row["MessageSize"])
    for row in rows("replrec"):
        name = replication_party(row) if user else who(row, None, "ReplicaID")
        out.add(name, "replication_bytes_in", row["BytesIn"])
        out.add(name, "replication_bytes_out", row["BytesOut"])
    for row in rows("agentrec"):
        # AGENTREC names its database by path, not by replica ID.
        name = who(row, "UserName", "DatabaseName")
        out.add(name, "agents", 1)
        out.add(name, "agent_time", row["ElapsedRunTime"])
    for row in rows("httpreqrec"):
        name = who(row, "AuthUser", None)
        if user and name is None:
            name = ANONYMOUS_WEB_USER
        out.add(name, "web", 1)
        out.add(name, "web_bytes", row["HttpContentLength"])
    return dict(sorted(out.totals.items()))
