"""What the checker keeps of the sessions it follows: each open session's SESSIONRECs so far
and its databases as its DBRECs show them, and the sessions ended, compactly."""

from __future__ import annotations

from simulator.errors import printable
from simulator.verify.events import Restart, ServerTimeline, SessionKey
from simulator.wire.timedate import TimeDate


def session_subject(key: SessionKey, username: str) -> str:
    """`session (3,1) CN=Alice/O=Acme`: the SessionID as (Index,SeqNo), and the user."""
    return f"session ({key[1]},{key[2]}) {printable(username)}"


class DbState:
    """One database as one session's DBRECs show it."""

    __slots__ = (
        "close_end_frame",
        "first_frame",
        "first_open_ticks",
        "grid_frame",
        "is_open",
        "last_frame",
        "last_ticks",
        "open_frame",
        "open_time",
        "open_time_frame",
    )

    def __init__(self, frame: int, ticks: int) -> None:
        self.first_frame = frame
        self.first_open_ticks: int | None = None
        self.grid_frame = frame  # its first OPEN or latest DB STAMP: where its boundaries run from
        self.is_open = False
        self.open_frame = 0
        self.last_frame = frame
        self.last_ticks = ticks
        self.open_time = 0
        self.open_time_frame = frame
        self.close_end_frame: int | None = None

    def boundaries_from(self, ticks: int) -> None:
        """After a clock step: its DB STAMPs fall on boundaries counted from `ticks`."""
        self.first_open_ticks = ticks


class SessionState:
    """One session's state: its SESSIONRECs so far (if any) and its databases."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "cut_by",
        "dbs",
        "first_dbrec_frame",
        "first_dbrec_offset",
        "first_frame",
        "key",
        "last_frame",
        "last_srec_frame",
        "last_srec_ticks",
        "last_ticks",
        "server",
        "start_ticks",
        "started",
        "subject",
    )

    def __init__(
        self, server: ServerTimeline, key: SessionKey, username: str, frame: int, ticks: int
    ) -> None:
        self.server = server
        self.key = key
        self.subject = session_subject(key, username)
        self.first_frame = frame
        self.started = False  # a SESSIONREC was seen (a START, or a STAMP/END without one)
        self.start_ticks: int | None = None
        self.last_srec_ticks: int | None = None
        self.last_srec_frame = 0
        self.bytes_in: int | None = None
        self.bytes_out: int | None = None
        self.last_ticks = ticks
        self.last_frame = frame
        self.dbs: dict[TimeDate, DbState] = {}
        self.first_dbrec_frame: int | None = None
        self.first_dbrec_offset: int | None = None
        self.cut_by: Restart | None = None

    def boundaries_from(self, ticks: int) -> None:
        """After a clock step: its STAMPs fall on boundaries counted from `ticks`."""
        self.start_ticks = ticks


class EndedKeys:
    """The sessions that have ENDed, compactly: per slot, the run of SeqNos 1..n, plus others.

    A load test ends millions of sessions; billsim (and Domino) reuse a slot with the
    next SeqNo, so each slot's ended SeqNos are nearly always 1..n. The END's frame is
    kept for the newest of each slot only; older ones answer 0 (ended, frame not kept).
    """

    __slots__ = ("_others", "_runs")

    def __init__(self) -> None:
        self._runs: dict[tuple[str, int], tuple[int, int]] = {}
        self._others: dict[SessionKey, int] = {}

    def add(self, key: SessionKey, frame: int) -> None:
        server, index, seq = key
        slot = (server, index)
        run, _ = self._runs.get(slot, (0, 0))
        if seq != run + 1:
            self._others[key] = frame
            return
        while True:
            self._runs[slot] = (seq, frame)
            later = self._others.pop((server, index, seq + 1), None)
            if later is None:
                return
            seq, frame = seq + 1, later

    def end_frame(self, key: SessionKey) -> int | None:
        """The frame of the key's END (0 if no longer kept), or None if it has not ended."""
        server, index, seq = key
        run, frame = self._runs.get((server, index), (0, 0))
        if 1 <= seq <= run:
            return frame if seq == run else 0
        return self._others.get(key)
