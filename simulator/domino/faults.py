"""Faults on purpose (docs/faults.md): what a real server and network do to a billing stream.

Sans-IO, on the run's event heap. Frame faults — duplicate, reorder, corrupt, truncate —
act between BillingWrite and MQ$BILLING, so every sink (MQTT, `--out`, `--stdout`) gets
the same frames; `crash`, `clock_step`, `dst` and `wrap` act on the server model. Which
`seq` numbers a frame fault picks comes from that fault's own stream, fixed by the seed
and the server (`FramePicks`), and what it does to a frame from a draw fixed by its `seq`,
so a run with faults writes the records of the run without them up to the first fault, a
frame fault changes only the frames it touches, and one fault's draws never move another's.

Each injected fault is one entry of `FaultInjector.entries()` (the summary's `faults`),
naming the `seq` numbers it touched and, per `seq`, the user and the bill fields that
frame carries (`simulator.domino.billfields.bill_fields_of`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulator.domino.billfields import bill_fields_of
from simulator.domino.billing import BillingWriter, PutFrame, SequencedFrame
from simulator.domino.clock import EventHeap, Phase
from simulator.domino.server import Server, UserLedger
from simulator.domino.streams import chance, stream_key
from simulator.domino.tasks import ServerTasks
from simulator.scenario.faults import Faults
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, peek_header
from simulator.wire.records import DbRec, Record, SessionID, SessionRec
from simulator.wire.timedate import (
    TICKS_PER_DAY,
    TimeDate,
    VirtualTimeStamper,
    datetime_from_timedate,
    format_timedate,
    zone_bits,
)

# `wrap: true`: every session's BytesIn and BytesOut start this far below 2^32, so a
# session that moves more than 1 KB either way wraps its counter.
WRAP_HEADROOM = 1024
WRAP_START = c.DWORD_WRAP - WRAP_HEADROOM
# Zone labels are worked out once per quarter hour of time: no zone moves at a finer step.
_TICKS_PER_QUARTER = 15 * 60 * 100
# The C types whose bytes `corrupt` may flip: numbers, ids and times, whatever their
# bits, still decode; a name or a length would not (or would bill someone else).
_new_record = tuple.__new__
# A seq number no run reaches: the next pick of a fault that picks nothing.
NEVER = 1 << 62
_CORRUPTIBLE_KINDS = frozenset({"int", "float", "time", "id", "sessionid", "unid", "oid"})

FaultEntry = dict[str, Any]
FrameInfo = dict[str, Any]


def _seconds(us: int) -> int | float:
    """Microseconds as seconds, whole when they are."""
    return us // 1_000_000 if us % 1_000_000 == 0 else us / 1e6


def frame_info(record: Record, server: str) -> FrameInfo:
    """A touched frame as the summary lists it: the user it bills, the fields it carries."""
    user, fields = bill_fields_of(record, server)
    return {"user": user, "fields": fields}


# -- frame surgery (pure) -----------------------------------------------------------------


def corruptible_spans(codec: FrameCodec, frame: bytes) -> list[tuple[str, int, int]]:
    """(field, first byte, size) of each field of the frame's record that `corrupt` may flip:
    a number, id or time, never a name, a derived length or offset, or the header."""
    kind_codec = codec.kind_codec(peek_header(frame)[1])
    if kind_codec is None:
        return []
    offsets = kind_codec.record.offsets
    return [
        (name, kind_codec.rec_offset + offsets[name], ctype.size)
        for name, ctype in kind_codec.kind.fields
        if ctype.kind in _CORRUPTIBLE_KINDS and name not in kind_codec.kind.derived
    ]


def corrupt_frame(
    codec: FrameCodec, frame: bytes, where: float, mask: float
) -> tuple[bytes, str, int] | None:
    """The frame with one byte of one of its record's numeric fields XORed with a non-zero
    value: `where` in [0, 1) picks the byte among those of `corruptible_spans`, `mask` the
    value (1..255). Returns (frame, field, byte offset); None when the record has no such
    field (a custom record of names only)."""
    spans = corruptible_spans(codec, frame)
    total = sum(size for _, _, size in spans)
    if not total:
        return None
    pick = min(int(where * total), total - 1)
    for field, first, size in spans:
        if pick < size:
            chosen, offset = field, first + pick
            break
        pick -= size
    flipped = bytearray(frame)
    flipped[offset] ^= 1 + min(int(mask * 255), 254)
    return bytes(flipped), chosen, offset


def truncate_frame(codec: FrameCodec, frame: bytes, where: float) -> bytes:
    """The frame cut inside the fixed part of its record (the header whole), with `Len`
    saying the bytes left: it can never be decoded, and a stream of frames back to back
    still reads frame by frame. `where` in [0, 1) picks the cut."""
    header = codec.header_size
    kind_codec = codec.kind_codec(peek_header(frame)[1])
    record_end = kind_codec.fixed_size if kind_codec is not None else len(frame)
    record_end = max(header + 1, min(record_end, len(frame)))
    kept = header + min(int(where * (record_end - header)), record_end - header - 1)
    return kept.to_bytes(2, "little") + frame[2:kept]


# -- the server's clock -------------------------------------------------------------------


class ZonedStamper:
    """A stamper whose TIMEDATEs carry a zone and the DST flag (`dst`): the same instant,
    Innards[1] labelled with the zone's standard offset (hours, quarter hours, east of
    GMT) and bit 31 while daylight saving time is in effect there."""

    __slots__ = ("_base", "_labels", "_zone")

    def __init__(self, base: Callable[[int], TimeDate], zone: str) -> None:
        self._base = base
        self._zone = ZoneInfo(zone)
        self._labels: dict[int, int] = {}

    def label(self, day: int, ticks: int) -> int:
        """The zone and DST bits of the instant `ticks` into Julian day `day`."""
        quarter = (day * TICKS_PER_DAY + ticks) // _TICKS_PER_QUARTER
        bits = self._labels.get(quarter)
        if bits is None:
            if len(self._labels) > 4096:
                self._labels.clear()
            local = datetime_from_timedate(TimeDate(ticks, day)).astimezone(self._zone)
            offset = local.utcoffset() or timedelta(0)
            daylight = local.dst() or timedelta(0)
            bits = zone_bits(offset - daylight, daylight > timedelta(0))
            self._labels[quarter] = bits
        return bits

    def __call__(self, virtual_us: int) -> TimeDate:
        plain = self._base(virtual_us)
        return TimeDate(plain.ticks, plain.day_zone | self.label(plain.day_zone, plain.ticks))


class ShiftedStamper:
    """A stamper whose clock of day is `offset_us` off the virtual clock (a clock step)."""

    __slots__ = ("_base", "offset_us")

    def __init__(self, base: Callable[[int], TimeDate], offset_us: int) -> None:
        self._base = base
        self.offset_us = offset_us

    def __call__(self, virtual_us: int) -> TimeDate:
        return self._base(virtual_us + self.offset_us)


# -- which frames a fault picks ---------------------------------------------------------------


class FramePicks:
    """The seq numbers a `share` of frames picks, from one seeded stream of gaps.

    The gaps between picks are geometric (each frame is picked with probability `share`,
    independently), drawn in turn from the stream of `key`: which frames are picked
    depends on the seed and the fault alone, and a frame costs one comparison
    (`seq >= picks.next`) until a pick is due. Asked in rising seq order.
    """

    __slots__ = ("_draws", "_key", "_log_miss", "next")

    def __init__(self, key: int, share: float) -> None:
        self._key = key
        self._draws = 0
        self._log_miss = math.log1p(-share) if 0.0 < share < 1.0 else 0.0
        if share <= 0.0:
            self.next = NEVER
        elif share >= 1.0:
            self.next = 1
        else:
            self.next = self._gap()

    def _gap(self) -> int:
        if not self._log_miss:
            return 1
        u = chance(self._key, self._draws)
        self._draws += 1
        return 1 + int(math.log1p(-u) / self._log_miss)

    def picks(self, seq: int) -> bool:
        """Whether frame `seq` is picked (call for each frame with `seq >= self.next`)."""
        while self.next < seq:  # a frame lost before it got here was picked: move on
            self.next += self._gap()
        if self.next != seq:
            return False
        self.next += self._gap()
        return True

    def draw(self, seq: int, which: int) -> float:
        """A number in [0, 1) for what a pick of `seq` does (where to cut, which byte)."""
        return chance(self._key, seq, which)


# -- the writer ---------------------------------------------------------------------------


class FaultingWriter(BillingWriter):
    """BillingWrite with the server-side faults: nothing is written while the server is
    down (`crash`); session counters start near 2^32 (`wrap`); and each record is handed to
    the injector with its frame, so a fault can say what the frame it touched bills."""

    def __init__(
        self,
        injector: FaultInjector,
        codec: FrameCodec,
        server_name: str,
        start: datetime,
        class_mask: int,
    ) -> None:
        super().__init__(codec, server_name, start, class_mask, injector.put)
        self.injector = injector

    def write(self, rec: Record, now: int, bill_class: int, detail: int = 0) -> bool:
        injector = self.injector
        if injector.down:
            return False
        kind = type(rec)
        if kind is SessionRec and injector.tracks_sessions:
            return self._write_session(rec, now, bill_class, detail)  # type: ignore[arg-type]
        injector.record, injector.now = rec, now
        written = super().write(rec, now, bill_class, detail)
        if written and kind is DbRec and injector.tracks_sessions:
            injector.track_database(rec, self.frames)  # type: ignore[arg-type]
        return written

    def write_values(
        self, kind: type[Record], values: tuple[Any, ...], now: int, bill_class: int, detail: int
    ) -> bool:
        # The faults look at (and `wrap` remakes) the record itself.
        return self.write(_new_record(kind, values), now, bill_class, detail)

    def write_custom(self, struct_type: int, bill_class: int, rec: Record, now: int) -> bool:
        injector = self.injector
        if injector.down:
            return False
        injector.record, injector.now = rec, now
        return super().write_custom(struct_type, bill_class, rec, now)

    def _write_session(self, rec: SessionRec, now: int, bill_class: int, detail: int) -> bool:
        injector = self.injector
        carried = rec
        if injector.wrap:
            # tuple.__new__: NamedTuple._replace costs several times as much.
            carried = _new_record(
                SessionRec,
                (
                    rec[0],
                    rec[1],
                    rec[2],
                    (WRAP_START + rec[3]) & c.DWORD_MAX,
                    (WRAP_START + rec[4]) & c.DWORD_MAX,
                    rec[5],
                ),
            )
        injector.record, injector.now = carried, now
        if not super().write(carried, now, bill_class, detail):
            return False
        injector.track_session(rec, carried, self.frames)
        return True

    def restamp(self, stamp: Callable[[int], TimeDate]) -> None:
        """The server's clock of day from now on: the TIMEDATEs it writes come from `stamp`;
        elapsed times (DBOpenTime, ElapsedRunTime), counted in `ticks`, do not move."""
        self.stamp = stamp  # type: ignore[assignment]
        self._stamp_call = stamp  # type: ignore[assignment]
        self._stamp_now = -1


# -- the injector ---------------------------------------------------------------------------


@dataclass
class _Held:
    """A frame `reorder` holds back until `left` more frames have gone past it."""

    seq: int
    frame: bytes
    info: FrameInfo
    left: int
    # The frames that went into the queue ahead of it, by seq: what each bills.
    passed: dict[int, Record | FrameInfo | None]
    twice: bool  # `duplicate` picked it too


class FaultInjector:
    """The faults of one server's run: the writer's `put`, the crash and the clock step on
    the heap, and the list of what was injected."""

    def __init__(
        self,
        faults: Faults,
        *,
        seed: int,
        server: str,
        start: datetime,
        codec: FrameCodec,
        quota: int,
        downstream: PutFrame,
    ) -> None:
        self.faults = faults
        self.server_name = server
        self.start = start
        self.codec = codec
        self.quota = quota
        self.downstream = downstream

        # A stream per fault and server: a domain's servers draw apart.
        def picks(name: str, share: float) -> FramePicks:
            return FramePicks(stream_key(seed, f"fault|{name}|{server}"), share)

        self._duplicate = picks("duplicate", faults.duplicate)
        self._corrupt = picks("corrupt", faults.corrupt)
        self._truncate = picks("truncate", faults.truncate)
        reorder = faults.reorder
        self._reorder = picks("reorder", reorder.share if reorder is not None else 0.0)
        self._window = reorder.window if reorder is not None else 1
        self._clock = VirtualTimeStamper(start)  # true time, for the entries' texts
        self.wrap = faults.wrap
        self.tracks_sessions = faults.wrap or faults.crash is not None
        self.frame_faults = faults.frame_faults
        self.down = False
        # Frames handed on to MQ$BILLING: the records written, a duplicate's copies more,
        # less those a crash lost and those still held back.
        self.handed = 0
        # What the writer is writing now: set before each frame reaches `put`.
        self.record: Record | None = None
        self.now = 0
        self._entries: list[FaultEntry] = []
        self._held: list[_Held] = []
        # Each open session's latest SESSIONREC and each of its databases' latest DBREC, by
        # SessionID: what a consumer bills a session cut without END from (docs/addin.md).
        self._sessions: dict[SessionID, tuple[int, SessionRec]] = {}
        self._databases: dict[tuple[SessionID, TimeDate], tuple[int, DbRec]] = {}
        self._wrap_entry: FaultEntry | None = None
        self._step_entry: FaultEntry | None = None  # waiting for its first frame
        self._crash_entry: FaultEntry | None = None
        # `crash`: frames written in its last `queued` before it sit in MQ$BILLING, lost.
        self._queued: deque[tuple[int, bytes, Record | None]] = deque()
        self._losing_from = -1
        self._losing_until = -1
        if faults.crash is not None:
            self._losing_from = max(0, faults.crash.at - faults.crash.queued)
            self._losing_until = faults.crash.at
        self.writer: FaultingWriter | None = None
        self._server: Server | None = None
        self._tasks: ServerTasks | None = None
        self._heap: EventHeap | None = None
        self._task_handlers: Collection[Callable[[Any], None]] = ()

    # -- building ---------------------------------------------------------------------------

    def make_writer(self, class_mask: int) -> FaultingWriter:
        """The run's BillingWriter, faults included."""
        self.writer = FaultingWriter(self, self.codec, self.server_name, self.start, class_mask)
        return self.writer

    def attach(
        self,
        heap: EventHeap,
        server: Server,
        tasks: ServerTasks,
        task_handlers: Collection[Callable[[Any], None]],
        *,
        duration: int,
        calendar_zone: str | None = None,
    ) -> None:
        """Put the crash and the clock step on the heap, first at their instants, and label
        the server's times with a zone (`dst`). Call once, before the run."""
        assert self.writer is not None, "make_writer first"
        self._heap, self._server, self._tasks = heap, server, tasks
        self._task_handlers = task_handlers
        self._duration = duration
        faults = self.faults
        zone = faults.dst_zone(calendar_zone)
        if zone is not None:
            self._base_stamp: Callable[[int], TimeDate] = ZonedStamper(self._clock, zone)
            self.writer.restamp(self._base_stamp)
            self._entries.append({"fault": "dst", "zone": zone, "seq": [], "frames": {}})
        else:
            self._base_stamp = self._clock
        if faults.wrap:
            self._wrap_entry = {
                "fault": "wrap",
                "counters_start": WRAP_START,
                "seq": [],
                "frames": {},
            }
            self._entries.append(self._wrap_entry)
        if faults.crash is not None:
            heap.schedule(faults.crash.at, Phase.SESSION_BOUNDARY, self._crash)
        if faults.clock_step is not None:
            heap.schedule(faults.clock_step.at, Phase.SESSION_BOUNDARY, self._step_clock)

    def time_text(self, at: int) -> str:
        """A virtual time as the summary prints times (true time: no step, no zone)."""
        return format_timedate(self._clock(at))

    # -- the frames' way to MQ$BILLING -------------------------------------------------------

    def put(self, item: SequencedFrame) -> None:
        """BillingWrite's MQPut, through the faults."""
        seq, frame = item
        if self._step_entry is not None:
            self._touch(self._step_entry, seq, self.record)
            self._step_entry = None
        now = self.now
        if self._losing_from <= now < self._losing_until:
            queued = self._queued
            queued.append((seq, frame, self.record))
            if len(queued) > self.quota:  # MQ$BILLING holds no more than its quota
                older = queued.popleft()
                self._transport(older[0], older[1], older[2])
            return
        self._transport(seq, frame, self.record)

    def _transport(self, seq: int, frame: bytes, record: Record | None) -> None:
        """A frame on its way: truncated or corrupted, held back (reorder), doubled. Frames
        come here in seq order, as each fault's picks expect."""
        if not self.frame_faults:
            self.handed += 1
            self.downstream((seq, frame))
            return
        info: FrameInfo | None = None
        truncate, corrupt = self._truncate, self._corrupt
        if seq >= truncate.next and truncate.picks(seq):
            info = self._info(record)
            cut = truncate_frame(self.codec, frame, truncate.draw(seq, 1))
            self._entries.append(
                {"fault": "truncate", "seq": [seq], "frames": {str(seq): info}, "kept": len(cut)}
            )
            frame = cut
        elif seq >= corrupt.next and corrupt.picks(seq):
            corrupted = corrupt_frame(self.codec, frame, corrupt.draw(seq, 1), corrupt.draw(seq, 2))
            if corrupted is not None:
                info = self._info(record)
                frame, name, offset = corrupted
                self._entries.append(
                    {
                        "fault": "corrupt",
                        "seq": [seq],
                        "frames": {str(seq): info},
                        "field": name,
                        "offset": offset,
                    }
                )
        duplicate, reorder = self._duplicate, self._reorder
        twice = seq >= duplicate.next and duplicate.picks(seq)
        if seq >= reorder.next and reorder.picks(seq):
            window = self._window
            left = 1 + min(int(reorder.draw(seq, 1) * window), window - 1)
            info = info if info is not None else self._info(record)
            self._held.append(_Held(seq, frame, info, left, {}, twice))
            return
        self._emit(seq, frame, record, info, twice)

    def _emit(
        self, seq: int, frame: bytes, record: Record | None, info: FrameInfo | None, twice: bool
    ) -> None:
        """Into MQ$BILLING (twice, `duplicate`), past the frames held back."""
        if twice:
            info = info if info is not None else self._info(record)
            self._entries.append({"fault": "duplicate", "seq": [seq], "frames": {str(seq): info}})
        for _ in range(2 if twice else 1):
            self.handed += 1
            self.downstream((seq, frame))
            if self._held:
                # What it bills is worked out only if a held frame's entry lists it.
                self._went_past(seq, info if info is not None else record)

    def _went_past(self, seq: int, what: Record | FrameInfo | None) -> None:
        """A frame went into the queue ahead of those held back before it was written: each
        of them is one nearer its release."""
        due: list[_Held] = []
        for held in self._held:
            if seq < held.seq:
                continue  # an older frame let go before it: no frame written later
            held.passed[seq] = what
            held.left -= 1
            if held.left <= 0:
                due.append(held)
        for held in due:
            self._held.remove(held)
        for held in due:
            self._release(held)

    def _release(self, held: _Held) -> None:
        if held.passed:  # delivered after frames written later: out of order
            by_seq = {held.seq: held.info}
            for seq, what in held.passed.items():
                by_seq[seq] = what if isinstance(what, dict) else self._info(what)
            moved = sorted(by_seq)
            self._entries.append(
                {
                    "fault": "reorder",
                    "seq": moved,
                    "frames": {str(seq): by_seq[seq] for seq in moved},
                    "held": held.seq,
                    "delivered_after": list(held.passed)[-1],
                }
            )
        self._emit(held.seq, held.frame, None, held.info, held.twice)

    def _info(self, record: Record | None) -> FrameInfo:
        if record is None:
            return {"user": None, "fields": {}}
        return frame_info(record, self.server_name)

    def finish(self) -> None:
        """The run is over: frames still held back go out, in the order they were held."""
        while self._held:
            self._release(self._held.pop(0))

    # -- what the server wrote: the sessions a crash can cut ------------------------------

    def track_session(self, rec: SessionRec, carried: SessionRec, seq: int) -> None:
        """A SESSIONREC written (`carried`: as the frame carries it, counters offset by
        `wrap`): remembered while its session is open; a counter that passed 2^32 listed."""
        session_id = rec.SessionID
        sessions = self._sessions
        if self.wrap:
            assert self._wrap_entry is not None
            before = sessions.get(session_id)
            last_in, last_out = (
                (before[1].BytesIn, before[1].BytesOut) if before else (WRAP_START, WRAP_START)
            )
            if carried.BytesIn < last_in or carried.BytesOut < last_out:
                self._touch(self._wrap_entry, seq, carried)
            if rec.Action == c.BILL_SESSION_END and self._ledger is not None:
                # The ledger adds the session's own counters at END; the bill is what the
                # END carries (docs/addin.md), counters that started near 2^32.
                self._ledger.add(rec.Username, "bytes_in", carried.BytesIn - rec.BytesIn)
                self._ledger.add(rec.Username, "bytes_out", carried.BytesOut - rec.BytesOut)
        if rec.Action == c.BILL_SESSION_END:
            sessions.pop(session_id, None)
        else:
            sessions[session_id] = (seq, carried)

    def track_database(self, rec: DbRec, seq: int) -> None:
        """A DBREC written: remembered until its CLOSE_END."""
        key = (rec.SessionID, rec.ReplicaID)
        if rec.Action == c.BILL_DB_CLOSE_END:
            self._databases.pop(key, None)
        else:
            self._databases[key] = (seq, rec)

    @property
    def _ledger(self) -> UserLedger | None:
        return self._server.ledger if self._server is not None else None

    # -- crash and restart ------------------------------------------------------------------

    def _crash(self, _: object) -> None:
        """The server dies: the frames still in MQ$BILLING are lost, open sessions end with no
        record, server tasks under way are abandoned; nothing is written until the restart."""
        crash = self.faults.crash
        assert crash is not None and self._server is not None and self._heap is not None
        now = crash.at
        lost = [(seq, record) for seq, _frame, record in self._queued]
        self._queued.clear()
        self._losing_until = -1
        self.finish()  # frames held back by `reorder` were on their way: they go on
        ledger = self._server.ledger
        cut = self._server.crash()
        entry: FaultEntry = {
            "fault": "crash",
            "at": self.time_text(now),
            "restart_at": None,
            "sessions_without_end": 0,
            "seq": [],
            "lost": [seq for seq, _ in lost],
            "frames": {},
            "abandoned_tasks": self._abandon_tasks(),
            "script_actions_skipped": 0,
        }
        touched: dict[int, Record | None] = dict(lost)
        for session in cut:
            latest = self._sessions.pop(session.session_id, None)
            if latest is not None:
                # Billed as a consumer bills a session without END: from its latest record.
                seq, rec = latest
                entry["sessions_without_end"] += 1
                touched[seq] = rec
                ledger.add(rec.Username, "sessions", 1)
                ledger.add(rec.Username, "bytes_in", rec.BytesIn)
                ledger.add(rec.Username, "bytes_out", rec.BytesOut)
            for db in session.dbs:
                latest_db = self._databases.pop((session.session_id, db.info.replica_id), None)
                if latest_db is not None:
                    seq, db_rec = latest_db
                    touched[seq] = db_rec
                    ledger.add(db_rec.Username, "db_open_time", db_rec.DBOpenTime)
        for seq in sorted(touched):
            self._touch(entry, seq, touched[seq])
        restart_after = crash.restart_after
        if restart_after is not None and now + restart_after < self._duration:
            entry["restart_at"] = self.time_text(now + restart_after)
            self._heap.schedule(now + restart_after, Phase.SESSION_BOUNDARY, self._restart)
        self.down = True
        self._crash_entry = entry
        self._entries.append(entry)

    def _abandon_tasks(self) -> int:
        """Drop the completions of server tasks under way (their records are never written)."""
        assert self._heap is not None and self._tasks is not None
        handlers = self._task_handlers
        dropped = self._heap.drop_where(lambda event: event[3] in handlers)
        self._tasks.replications.clear()
        return len(dropped)

    def _restart(self, _: object) -> None:
        """Up again: tasks started while down never end; sessions start afresh."""
        assert self._server is not None and self._crash_entry is not None
        self._crash_entry["abandoned_tasks"] += self._abandon_tasks()
        self._server.restart()
        self.down = False

    def skip_script_action(self) -> bool:
        """Whether a script action the server cannot take is the crash's doing (it refused
        it while down, or the session it names was cut): then it is skipped and counted."""
        if self._crash_entry is None:
            return False
        self._crash_entry["script_actions_skipped"] += 1
        return True

    # -- the clock ----------------------------------------------------------------------------

    def _step_clock(self, _: object) -> None:
        step = self.faults.clock_step
        assert step is not None and self.writer is not None
        self.writer.restamp(ShiftedStamper(self._base_stamp, step.by))
        self._step_entry = {
            "fault": "clock_step",
            "at": self.time_text(step.at),
            "by_s": _seconds(step.by),
            "seq": [],
            "frames": {},
        }
        self._entries.append(self._step_entry)

    # -- the list ----------------------------------------------------------------------------

    def _touch(self, entry: FaultEntry, seq: int, record: Record | None) -> None:
        entry["seq"].append(seq)
        entry["frames"][str(seq)] = self._info(record)

    def entries(self, server: str, run: str | None) -> list[FaultEntry]:
        """Every fault injected, in order, as the summary's `faults` lists them."""
        return [
            {"fault": entry["fault"], "server": server, "run": run, **entry}
            for entry in self._entries
        ]
