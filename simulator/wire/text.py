"""The one-line text form of a frame: its JSON form as a readable line (time, server,
class, action, user, the record's key numbers, ``#seq``).

``tail`` prints it; ``decode --format text`` and ``run --watch`` are to use it too.
Standard library only, like the rest of the wire layer.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from typing import Any, Final

from simulator.errors import printable
from simulator.wire import constants as c

# A byte of a name that is not UTF-8 is shown as `\udcXX` (XX its hex), everywhere: the
# JSON form (`decode`), the text form (`tail`, `decode --format text`), `check`'s findings
# and the text columns of the add-in's stores. The codec decodes such a byte as the lone
# surrogate U+DCXX (surrogateescape), which no strict UTF-8 stream can write:
# `simulator.errors.printable` turns that into the escape; SHOWN_ERRORS, a codec error
# handler, decodes bytes straight to it (`raw.decode("utf-8", SHOWN_ERRORS)`, free when
# the bytes are UTF-8).
SHOWN_ERRORS: Final = "billsim-shown"

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def as_stored(text: str) -> str:
    """`text` as a store's text column holds it: a lone surrogate (a byte that was not
    UTF-8) as `\\udcXX`, as SHOWN_ERRORS decodes it; control characters as they are, as
    the JSON form's value holds them."""
    return text if text.isascii() else _SURROGATE.sub(_escape_surrogate, text)


def _escape_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(f"\\udc{byte:02x}" for byte in bad), error.end


codecs.register_error(SHOWN_ERRORS, _escape_undecodable)

_ROUTING_STATES: Final = {value: name.upper() for name, value in c.MAIL_ROUTING_STATE.items()}
_MAIL_PRIORITY: Final = {value: name for name, value in c.MAIL_PRIORITY.items()}
_MAIL_REPORT: Final = {value: name for name, value in c.MAIL_REPORT.items()}
_REPL_PRIORITY: Final = {value: name for name, value in c.REPL_PRIORITY.items()}


_NAME_KEYS: Final = frozenset(("CN", "OU", "O", "C"))


def abbreviate(name: str) -> str:
    """A Domino name in abbreviated form: `CN=Alice Smith/O=Acme` → `Alice Smith/Acme`."""
    if "=" not in name:
        return name
    parts = []
    for part in name.split("/"):
        key, sep, value = part.partition("=")
        parts.append(value if sep and key.strip().upper() in _NAME_KEYS else part)
    return "/".join(parts)


def hundredths(value: int) -> str:
    """Hundredths of a second as `[h:]m:ss.hh`: DBOpenTime, ElapsedRunTime."""
    hours, rest = divmod(value, 360_000)
    minutes, rest = divmod(rest, 6_000)
    seconds, hundred = divmod(rest, 100)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}.{hundred:02d}"
    return f"{minutes}:{seconds:02d}.{hundred:02d}"


def thousands(value: object) -> str:
    """An integer with thousands separators (`48,213`); anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _name_of(table: Mapping[int, str], value: object, what: str) -> str:
    return table.get(value, f"{what} {value}") if isinstance(value, int) else f"{what} {value}"


def time_of_day(stamp: object) -> tuple[str, str | None]:
    """(`HH:MM:SS.hh`, date) of an ISO time stamp; an id-form stamp is kept whole."""
    if isinstance(stamp, str) and len(stamp) == 23 and stamp[10] == "T" and stamp.endswith("Z"):
        return stamp[11:22], stamp[:10]
    return str(stamp), None


def _sid(rec: Mapping[str, Any]) -> str:
    sid = rec.get("SessionID")
    if isinstance(sid, Mapping):
        return f"sid {sid.get('Index')}.{sid.get('SeqNo')}"
    return "sid ?"


def _describe(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(what, who, details) of a frame's JSON form, by struct type."""
    rec: Mapping[str, Any] = obj.get("rec") or {}
    struct_type = obj.get("StructType")
    if "raw" in rec:  # a type no table here describes, or a frame its table cannot read
        raw = str(rec["raw"])
        return f"type {struct_type}", "", f"{len(raw) // 2} bytes of record"
    if struct_type == c.BILL_SESSIONREC:
        what = _name_of(c.SESSION_ACTION_NAMES, rec.get("Action"), "action")
        details = (
            f"{_sid(rec)}  in {thousands(rec.get('BytesIn'))}  out {thousands(rec.get('BytesOut'))}"
            f"  {rec.get('NetAdr', '')}"
        )
        return what, abbreviate(str(rec.get("Username", ""))), details.rstrip()
    if struct_type == c.BILL_DBREC:
        what = _name_of(c.DB_ACTION_NAMES, rec.get("Action"), "action")
        open_time = rec.get("DBOpenTime")
        shown = hundredths(open_time) if isinstance(open_time, int) else str(open_time)
        details = f"{_sid(rec)}  db {rec.get('ReplicaID')}  open {shown}"
        return what, abbreviate(str(rec.get("Username", ""))), details
    if struct_type == c.BILL_DOCCHARGE:
        what = _name_of(c.CHARGE_TYPE_NAMES, rec.get("Type"), "type")
        details = f"db {rec.get('ReplicaID')}  charge {rec.get('Charge')}"
        return what, abbreviate(str(rec.get("Username", ""))), details
    if struct_type == c.BILL_MAILREC:
        what = _name_of(_ROUTING_STATES, rec.get("RoutingState"), "state")
        recipients = rec.get("RecipientCount")
        details = (
            f"{rec.get('FormType', '')}  to {thousands(recipients)} recipient"
            f"{'' if recipients == 1 else 's'}  {thousands(rec.get('MessageSize'))} bytes"
            f"  {_name_of(_MAIL_PRIORITY, rec.get('Priority'), 'priority')}"
            f"  report {_name_of(_MAIL_REPORT, rec.get('Report'), '')}"
            f"  via {abbreviate(str(rec.get('HopName', '')))}"
        )
        return what, abbreviate(str(rec.get("Originator", ""))), details
    if struct_type == c.BILL_REPLREC:
        details = (
            f"{_sid(rec)}  to {abbreviate(str(rec.get('Destination', '')))}"
            f"  db {rec.get('ReplicaID')}  in {thousands(rec.get('BytesIn'))}"
            f"  out {thousands(rec.get('BytesOut'))}"
            f"  {_name_of(_REPL_PRIORITY, rec.get('Priority'), 'priority')}"
        )
        return "REPLICATE", abbreviate(str(rec.get("Source", ""))), details
    if struct_type == c.BILL_AGENTREC:
        elapsed = rec.get("ElapsedRunTime")
        flags = rec.get("Flags")
        flag_names = (
            ",".join(name for name, bit in c.AGENT_FLAGS.items() if flags & bit)
            if isinstance(flags, int)
            else str(flags)
        )
        details = (
            f"{rec.get('TaskName', '')}  {rec.get('DatabaseName', '')}"
            f"  ran {hundredths(elapsed) if isinstance(elapsed, int) else elapsed}"
            + (f"  {flag_names}" if flag_names else "")
        )
        return "RUN", abbreviate(str(rec.get("UserName", ""))), details
    if struct_type == c.BILL_HTTPREQREC:
        request = str(rec.get("RequestLine") or "")
        method, _, rest = request.partition(" ")
        path = rest.rsplit(" ", 1)[0] if rest else ""
        details = (
            f"{path}  {rec.get('HttpStatusCode')}  {thousands(rec.get('HttpContentLength'))} bytes"
            f"  {rec.get('HttpReqTimeMs')} ms"
            + (f"  from {rec['Partner']}" if rec.get("Partner") else "")
        )
        return method or "HTTP", abbreviate(str(rec.get("AuthUser") or "-")), details
    # Custom types, decoded by name when the sender knew them.
    fields = "  ".join(f"{key} {value}" for key, value in rec.items())
    return f"type {struct_type}", "", fields


def _class_name(bill_class: object) -> str:
    if isinstance(bill_class, int):
        return c.CLASS_TOPIC_NAME.get(bill_class, f"class {bill_class:#x}")
    return str(bill_class)


def frame_line(obj: Mapping[str, Any], *, server: str | None = None, seq: Any = None) -> str:
    """The one-line, readable form of a frame's JSON form."""
    clock, _ = time_of_day(obj.get("TimeStamp"))
    if server is None:
        server = abbreviate(str(obj.get("ServerName", ""))).split("/", 1)[0]
    what, who, details = _describe(obj)
    if seq is None:
        seq = obj.get("seq")
    line = (
        f"{clock:<11} {server:<8} {_class_name(obj.get('Class')):<11} {what:<9} {who:<22} {details}"
    )
    if seq is not None:
        line += f"  #{seq}"
    return printable(line.rstrip())


class TextView:
    """The one-line view of a stream of frames, as `tail`, `decode --format text` and
    `run --stdout --format text` print it: a `-- YYYY-MM-DD` line whenever the day
    changes, then one line per frame."""

    __slots__ = ("_date",)

    def __init__(self) -> None:
        self._date: str | None = None

    def lines(
        self, obj: Mapping[str, Any], *, server: str | None = None, seq: Any = None
    ) -> tuple[str | None, str]:
        """(the date line if the day changed with this frame, else None; the frame's line)."""
        _, date = time_of_day(obj.get("TimeStamp"))
        date_line = None
        if date is not None and date != self._date:
            self._date = date
            date_line = f"-- {date}"
        return date_line, frame_line(obj, server=server, seq=seq)
