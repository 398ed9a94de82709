"""A replay's plan (`billsim replay`, docs/record-replay.md): what each pass over a
recorded stream changes in each frame, and which run and `seq` it goes out with.

Pure. A first read of the capture feeds every frame to `ReplayScan`, which keeps only
what the passes need (the first and the extreme time stamps, the highest SeqNo of each
SessionID slot, the seq numbers of each server's run); `ReplayPlan` then answers, for
each frame of each pass:

- `edit(pass)`: the `FrameEdit` (simulator/wire/rewrite.py) — every time moved by the
  `--rebase` offset plus `pass` times the capture's span (its latest TimeStamp minus its
  earliest), the server renamed (`--server-name`), and from the second pass on each
  SessionID's SeqNo moved on by the most that slot used in the capture and each
  message's OriginatorID made anew, so a consumer sees new sessions and new messages;
- `group(frame)`: the server (common name, as its topic says) and run it goes out as: a
  capture's own, else (an .nbf, which keeps none) a new run id;
- `seq(frame, pass)`: the frame's seq ranked among the distinct seqs of its server's run
  in the capture (the capture's own seq when they are 1..N, as a complete recording's
  are), plus `pass` times their number, so passes never repeat a seq and a frame the
  capture holds twice keeps one seq within its pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from simulator.domino.server import derive_timedate
from simulator.scenario.names import common_name
from simulator.wire import constants as c
from simulator.wire.rewrite import FrameEdit, FrameRewriter
from simulator.wire.timedate import (
    LAST_DATETIME_JDN,
    TICKS_PER_DAY,
    TICKS_PER_SECOND,
    TimeDate,
    absolute_ticks,
    format_timedate_id,
    readable_day,
)

GroupKey = tuple[str, str | None]
"""(server common name, run id or None): one MQTT connection of a replay, one run."""


class SourceFrame(NamedTuple):
    """One frame of a capture or an .nbf file as read, before any pass changes it.

    `at`: seconds after the first frame it was received (a capture) or None (timing from
    TimeStamps); `server`: the common name its topic named (None: from the frame's
    ServerName); `run` and `seq` as the capture's MQTT properties gave them (an .nbf: no
    run, seq = the frame's number in the file); `line` (a capture, JSON lines) or `offset`
    (an .nbf: its first byte) where it was read, which `where` names in errors. A tuple,
    and its place named only when an error asks: a replay reads each frame at least twice."""

    at: float | None
    server: str | None
    run: str | None
    seq: int
    frame: bytes
    line: int = 0
    offset: int = -1

    @property
    def where(self) -> str:
        """`line 12` or `byte offset 4000 (frame 5)`, for an error about the frame."""
        if self.offset >= 0:
            return f"byte offset {self.offset} (frame {self.seq})"
        return f"line {self.line}"


_LAST_READABLE_TICK = (LAST_DATETIME_JDN + 1) * TICKS_PER_DAY - 1


def _readable_ticks(ticks: int) -> bool:
    return readable_day(ticks // TICKS_PER_DAY)


def _absolute(stamp: TimeDate | None) -> int | None:
    """Hundredths since Julian day 0 of a header TimeStamp; None for none or no valid time."""
    if stamp is None or stamp == (0, 0) or stamp.ticks >= TICKS_PER_DAY:
        return None
    return stamp.julian_day * TICKS_PER_DAY + stamp.ticks


class ReplayScan:
    """What a replay must know of a stream before its first pass (one read of it)."""

    def __init__(self, rewriter: FrameRewriter, *, seqnos: bool = True) -> None:
        """`seqnos`: keep `max_seqno`, which only passes after the first read (a replay of
        one pass need not look for a frame's SessionIDs)."""
        self.rewriter = rewriter
        self._seqnos = seqnos
        self.frames = 0
        self.first_stamp: int | None = None  # absolute ticks of the first frame with a time
        self.min_stamp: int | None = None
        self.max_stamp: int | None = None
        # The frames of min_stamp and max_stamp, for an error that names one.
        self.earliest: SourceFrame | None = None
        self.latest: SourceFrame | None = None
        self.last_at = 0.0
        self.timed = True  # every frame came with a receive time (a capture)
        self.server_names: set[str] = set()  # header ServerNames
        self.servers: set[str] = set()  # common names frames go out under
        # Per (ServerName, SessionID Index): the highest SeqNo the stream used.
        self.max_seqno: dict[tuple[str, int], int] = {}
        self.seqs: dict[GroupKey, set[int]] = {}
        self._common_names: dict[str, str] = {}

    def add(self, item: SourceFrame) -> None:
        self.frames += 1
        frame = item.frame
        rewriter = self.rewriter
        if item.at is None:
            self.timed = False
        else:
            self.last_at = max(self.last_at, item.at)
        name = rewriter.server_name(frame)
        if name is not None:
            self.server_names.add(name)
            if self._seqnos:
                for index, seqno in rewriter.session_ids(frame):
                    key = (name, index)
                    if seqno > self.max_seqno.get(key, 0):
                        self.max_seqno[key] = seqno
        stamp = _absolute(rewriter.time_stamp(frame))
        if stamp is not None:
            # Comparisons, not min() and max(): calls, and this runs for every frame.
            low, high = self.min_stamp, self.max_stamp
            if low is None or high is None:
                self.first_stamp = self.min_stamp = self.max_stamp = stamp
                self.earliest = self.latest = item
            elif stamp < low:
                self.min_stamp = stamp
                self.earliest = item
            elif stamp > high:
                self.max_stamp = stamp
                self.latest = item
        server = item.server if item.server is not None else self.common_name(name)
        self.servers.add(server)
        group = (server, item.run)
        try:
            self.seqs[group].add(item.seq)
        except KeyError:
            self.seqs[group] = {item.seq}

    def common_name(self, server_name: str | None) -> str:
        """The common name of a frame's ServerName (remembered: a stream has a few)."""
        key = server_name or ""
        known = self._common_names.get(key)
        if known is None:
            known = self._common_names[key] = common_name(key)
        return known

    @property
    def span_ticks(self) -> int:
        """How far each pass moves past the one before: the capture's latest TimeStamp
        minus its earliest, at least a hundredth (a capture of one instant)."""
        if self.min_stamp is None or self.max_stamp is None:
            return 1
        return max(self.max_stamp - self.min_stamp, 1)


class _Ranks:
    """A run's seqs of the capture ranked 1..K: the identity when they are 1..K."""

    def __init__(self, seqs: set[int]) -> None:
        self.count = len(seqs)
        ordered = sorted(seqs)
        identity = ordered == list(range(1, self.count + 1))
        self._rank = None if identity else {seq: rank for rank, seq in enumerate(ordered, 1)}

    def __call__(self, seq: int) -> int:
        return seq if self._rank is None else self._rank[seq]


class ReplayPlan:
    """Per pass and frame: the edit, the group and the seq (module doc)."""

    def __init__(
        self,
        scan: ReplayScan,
        *,
        new_run: str,
        rebase: datetime | None = None,
        server_name: str | None = None,
    ) -> None:
        self.scan = scan
        self.new_run = new_run
        self.server_name = server_name
        self.rebase_ticks = 0
        if rebase is not None and scan.first_stamp is not None:
            self.rebase_ticks = absolute_ticks(rebase) - scan.first_stamp
        self._ranks = {key: _Ranks(seqs) for key, seqs in scan.seqs.items()}
        self._renamed = common_name(server_name) if server_name is not None else None
        # (source group) -> (the group it goes out under, its seqs' ranks): route's
        # look-ups made once for each of the few groups, not for each frame.
        self._routes: dict[GroupKey, tuple[tuple[str, str], _Ranks]] = {}

    @property
    def span_ticks(self) -> int:
        return self.scan.span_ticks

    @property
    def pass_seconds(self) -> float:
        """The wall time a pass takes at 1x: its receive times' span (a capture), else its
        TimeStamps' span."""
        if self.scan.timed:
            return self.scan.last_at
        return self.span_ticks / TICKS_PER_SECOND

    def shift_ticks(self, pass_index: int) -> int:
        return self.rebase_ticks + pass_index * self.span_ticks

    def passes_readable(self) -> int | None:
        """How many passes keep every header TimeStamp in the years 1..9999, the times
        billsim reads back (0: not even the first, --rebase moved one out); None: any
        number (no TimeStamp, or one the stream already held outside those years)."""
        low, high = self.scan.min_stamp, self.scan.max_stamp
        if low is None or high is None:
            return None
        if not (_readable_ticks(low) and _readable_ticks(high)):
            return None
        low += self.rebase_ticks
        high += self.rebase_ticks
        if not (_readable_ticks(low) and _readable_ticks(high)):
            return 0
        return (_LAST_READABLE_TICK - high) // self.span_ticks + 1

    def edit(self, pass_index: int) -> FrameEdit:
        return FrameEdit(
            shift_ticks=self.shift_ticks(pass_index),
            server_name=self.server_name,
            seqno=self._seqno_map(pass_index) if pass_index else None,
            message_id=_message_ids(pass_index) if pass_index else None,
        )

    def _seqno_map(self, pass_index: int) -> Callable[[str, int, int], int]:
        most = self.scan.max_seqno

        def seqno(server_name: str, index: int, seqno: int) -> int:
            step = most.get((server_name, index), 0)
            if seqno == 0 or step == 0:
                return seqno
            # SeqNo is a WORD counting a slot's uses from 1: past 65535 it starts at 1 again.
            return (seqno - 1 + pass_index * step) % c.WORD_MAX + 1

        return seqno

    def source_group(self, item: SourceFrame) -> GroupKey:
        """The (server, run) the capture had the frame under."""
        if item.server is not None:
            return item.server, item.run
        scan = self.scan
        return scan.common_name(scan.rewriter.server_name(item.frame)), item.run

    def route(self, item: SourceFrame, pass_index: int) -> tuple[tuple[str, str], int]:
        """The (server common name, run) the frame goes out under in a pass, and its seq."""
        key = self.source_group(item)
        try:
            group, ranks = self._routes[key]
        except KeyError:
            group, ranks = self._routes[key] = (self.out_group(key), self._ranks[key])
        return group, ranks(item.seq) + pass_index * ranks.count

    def group(self, item: SourceFrame) -> tuple[str, str]:
        """The (server common name, run) the frame goes out under."""
        return self.route(item, 0)[0]

    def out_group(self, key: GroupKey) -> tuple[str, str]:
        """The (server common name, run) a recorded server's run goes out under."""
        server, run = key
        if self._renamed is not None:
            server = self._renamed
        return server, run if run is not None else self.new_run

    def groups(self) -> list[tuple[str, str]]:
        """Every (server, run) the replay sends, in order."""
        return sorted({self.out_group(key) for key in self.scan.seqs})

    def seq(self, item: SourceFrame, pass_index: int) -> int:
        """The seq the frame goes out with in a pass."""
        return self.route(item, pass_index)[1]

    def pass_offset(self, item: SourceFrame) -> float | None:
        """Seconds after the pass's first frame the frame is due at 1x: its receive time,
        else its TimeStamp's distance from the first; None: no time to go by."""
        if item.at is not None:
            return item.at
        stamp = _absolute(self.scan.rewriter.time_stamp(item.frame))
        first = self.scan.first_stamp
        if stamp is None or first is None:
            return None
        return (stamp - first) / TICKS_PER_SECOND


def _message_ids(pass_index: int) -> Callable[[TimeDate, TimeDate], tuple[TimeDate, TimeDate]]:
    """A message's OriginatorID File and Note for a pass: derived from the recorded ones
    and the pass (docs/wire-format.md's rule for derived ids), so each message of a pass
    is a new message, and its copies within the pass (one per hop) stay one message."""

    made: dict[tuple[TimeDate, TimeDate], tuple[TimeDate, TimeDate]] = {}  # this pass's

    def message_id(file: TimeDate, note: TimeDate) -> tuple[TimeDate, TimeDate]:
        known = made.get((file, note))
        if known is None:
            key = f"{format_timedate_id(file)}|{format_timedate_id(note)}"
            known = made[file, note] = (
                derive_timedate(pass_index, "replay-mail-file", key),
                derive_timedate(pass_index, "replay-mail-note", key),
            )
        return known

    return message_id
