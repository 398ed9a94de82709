"""Fault injection (docs/faults.md): each fault's frame surgery, its draws, and what it does to
a run, on small hand-written scenarios stepped event by event.

The golden traces of each fault on a whole scenario are in tests/commands/test_run_faults.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from samples import ALICE, FRAMES, HUB, KIND_NAMES, RECORDS, SERVER

from simulator.domino.billfields import bill_fields_of
from simulator.domino.faults import (
    WRAP_START,
    FramePicks,
    ZonedStamper,
    corrupt_frame,
    corruptible_spans,
    truncate_frame,
)
from simulator.domino.simulation import RunOptions, Simulation
from simulator.domino.streams import stream_key
from simulator.scenario.loader import load_scenario_text
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, FrameError
from simulator.wire.jsonform import JsonDecoder, frame_from_json, json_or_raw
from simulator.wire.layout import Framing, Layout, char
from simulator.wire.records import CustomRec, Frame, MailRec, SessionRec, custom_kind
from simulator.wire.timedate import (
    TICKS_PER_DAY,
    TimeDate,
    VirtualTimeStamper,
    timedate_from_datetime,
)

MINUTE = 60_000_000
CODECS = [
    FrameCodec(layout, framing)
    for layout in (Layout.LINUX_X86_64, Layout.WIN32)
    for framing in (Framing.PAD_UNION, Framing.COMPACT)
]
CODEC_IDS = ["natural-pad", "natural-compact", "packed-pad", "packed-compact"]


# -- corrupt ---------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("name", KIND_NAMES)
def test_corrupt_flips_one_byte_of_a_numeric_field_and_the_frame_still_decodes(
    codec: FrameCodec, name: str
) -> None:
    frame = codec.encode(FRAMES[name])
    original = codec.decode(frame)
    decoder = JsonDecoder(codec)
    spans = corruptible_spans(codec, frame)
    assert spans, name
    header = codec.header_size
    total = sum(size for _, _, size in spans)
    for pick in range(total):
        for mask in (0.0, 0.5, 0.999):
            corrupted, field, offset = corrupt_frame(codec, frame, (pick + 0.5) / total, mask)  # type: ignore[misc]
            differing = [i for i in range(len(frame)) if frame[i] != corrupted[i]]
            assert differing == [offset], (name, pick)
            assert offset >= header
            first, size = next((f, s) for n, f, s in spans if n == field)
            assert first <= offset < first + size
            # Still its record, with one value changed; its JSON form gives its bytes back.
            damaged = codec.decode(corrupted)
            assert type(damaged.rec) is type(original.rec)
            # One value reads differently (repr: a NaN Charge is no value equal to itself).
            assert repr(damaged.rec) != repr(original.rec)
            again = codec.encode(frame_from_json(codec, decoder(corrupted)))
            assert again == corrupted


def test_corrupt_never_touches_names_lengths_or_offsets() -> None:
    codec = FrameCodec()
    named = {name for name, _, _ in corruptible_spans(codec, codec.encode(FRAMES["MAILREC"]))}
    assert "Originator" not in named and "HopName" not in named and "FormType" not in named
    assert "RecipientSize" not in named  # derived: it would no longer decode
    assert named >= {"MessageSize", "OriginatorID", "PostedDate", "Priority"}
    http = {name for name, _, _ in corruptible_spans(codec, codec.encode(FRAMES["HTTPREQREC"]))}
    assert http == {"HttpContentLength", "HttpReqTimeMs", "HttpStatusCode"}


def test_corrupt_leaves_a_record_of_names_alone() -> None:
    kind = custom_kind("NAMES", 32001, c.BILL_CLASS_DATABASE, (("Username", char(40)),))
    codec = FrameCodec(custom_kinds=[kind])
    rec = CustomRec(("x",))
    frame = codec.encode(Frame(32001, c.BILL_CLASS_DATABASE, SERVER, TimeDate(0, 1), rec))
    assert corrupt_frame(codec, frame, 0.5, 0.5) is None


# -- truncate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS, ids=CODEC_IDS)
@pytest.mark.parametrize("name", KIND_NAMES)
def test_a_truncated_frame_keeps_its_header_says_its_length_and_never_decodes(
    codec: FrameCodec, name: str
) -> None:
    frame = codec.encode(FRAMES[name])
    header = codec.header_size
    for where in (0.0, 0.25, 0.5, 0.999999):
        cut = truncate_frame(codec, frame, where)
        assert header <= len(cut) < len(frame)
        assert int.from_bytes(cut[:2], "little") == len(cut)
        assert cut[2:] == frame[2 : len(cut)]
        with pytest.raises(FrameError):
            codec.decode(cut)
        # Its JSON form is the header and its bytes, which the JSON reader makes again.
        obj = json_or_raw(JsonDecoder(codec), cut, 7)
        assert obj["seq"] == 7 and obj["Len"] == len(cut)
        assert bytes.fromhex(obj["rec"]["raw"]) == cut[header:]
        assert codec.encode(frame_from_json(codec, obj)) == cut


# -- dst ---------------------------------------------------------------------------------------


def _stamp_at(stamper: ZonedStamper, start: datetime, moment: datetime) -> TimeDate:
    return stamper(int((moment - start).total_seconds() * 1e6))


def test_dst_labels_the_zone_and_the_daylight_saving_flag_across_a_change() -> None:
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    plain = VirtualTimeStamper(start)
    stamper = ZonedStamper(plain, "Europe/Berlin")
    # Berlin: CET (+1) until 2026-03-29 01:00 UTC, then CEST (+1 standard, DST).
    before = _stamp_at(stamper, start, datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))
    after = _stamp_at(stamper, start, datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    day = timedate_from_datetime(start).julian_day
    assert before.day_zone == day | 1 << 24 | 1 << 30
    assert after.day_zone == day | 1 << 24 | 1 << 30 | 1 << 31
    assert after.zone_offset.total_seconds() == 3600 and after.dst and not before.dst
    # The instant itself does not move.
    assert before.ticks == plain(int(3599 * 1e6)).ticks


def test_dst_west_of_greenwich_and_quarter_hours() -> None:
    start = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    new_york = ZonedStamper(VirtualTimeStamper(start), "America/New_York")(0)
    assert new_york.day_zone >> 24 == 5 | 1 << 7  # 5 hours, west, DST in July
    assert new_york.zone_offset.total_seconds() == -5 * 3600
    kathmandu = ZonedStamper(VirtualTimeStamper(start), "Asia/Kathmandu")(0)  # +5:45
    assert (kathmandu.day_zone >> 24) & 0xF == 5
    assert (kathmandu.day_zone >> 28) & 0x3 == 3
    assert kathmandu.zone_offset.total_seconds() == (5 * 60 + 45) * 60


# -- bill_fields_of -----------------------------------------------------------------------------


def test_bill_fields_of_every_kind_names_the_user_and_the_amounts_it_carries() -> None:
    expected: dict[str, tuple[str | None, dict[str, Any]]] = {
        "SESSIONREC": (ALICE, {"sessions": 1, "bytes_in": 400, "bytes_out": 2200}),
        "DBREC": (ALICE, {"db_open_time": 123_456}),
        "REPLREC": (HUB, {"replication_bytes_in": 90_000, "replication_bytes_out": 1_200}),
        "DOCUMENT": ("CN=Zoë Müller/O=Acme", {"charges": 0.05, "documents": 1}),
        "MAILREC": (ALICE, {"mail": 1, "mail_bytes": 48_213}),
        "AGENTREC": (ALICE, {"agents": 1, "agent_time": 350}),
        "HTTPREQREC": ("Anonymous", {"web": 1, "web_bytes": 5120}),
    }
    for name, rec in RECORDS.items():
        assert bill_fields_of(rec, SERVER) == expected[name], name
        assert bill_fields_of(FRAMES[name]) == expected[name], name
    # A push replicates to the Destination: billed to it, the server being the Source.
    push = RECORDS["REPLREC"]._replace(Source=SERVER, Destination=HUB)  # type: ignore[call-arg]
    assert bill_fields_of(push, SERVER)[0] == HUB
    signed_in = RECORDS["HTTPREQREC"]._replace(AuthUser=ALICE)  # type: ignore[call-arg]
    assert bill_fields_of(signed_in)[0] == ALICE
    assert bill_fields_of(CustomRec((1,))) == (None, {})


# -- whole runs, stepped -----------------------------------------------------------------------

BASE = """\
name: faults-unit
seed: 5
start: "2026-11-21T09:00:00Z"
duration: 60m
server: CN=Mail01/O=Acme
notes_ini: {BillingClass: "Session,Database,Document,Mail,HttpRequest", BillingSuppressTime: 5}
databases:
  mail/a.nsf: {replica_id: "85258A3B:0052C1F0"}
users:
  alice: {name: "CN=Alice Smith/O=Acme", address: "10.1.2.3"}
  bob: {name: "CN=Bob Jones/O=Acme", address: "10.1.2.4"}
script:
  - {at: 1m, user: alice, action: open, db: mail/a.nsf, bytes_in: 600, bytes_out: 700}
  - {at: 2m, user: bob, action: transfer, bytes_in: 10, bytes_out: 20}
  - {at: 7m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 600, bytes_out: 100}
  - {at: 12m, action: http, user: bob, address: 10.1.2.4, request: "GET / HTTP/1.1", bytes: 77}
  - {at: 13m, action: mail, from: bob, to: [alice], size: 900}
  - {at: 24m, user: alice, action: edit, db: mail/a.nsf, bytes_in: 5}
  - {at: 25m, user: alice, action: logout}
  - {at: 26m, user: bob, action: transfer, bytes_in: 1}
  - {at: 40m, user: bob, action: logout}
"""


def run_frames(text: str) -> tuple[Simulation, list[tuple[int, bytes]]]:
    """The scenario run to its end without pacing; (sim, what went into MQ$BILLING, in
    order)."""
    scenario = load_scenario_text(text, "faults.yaml")
    sim = Simulation(scenario, scenario.settings_with(), RunOptions(quota=100_000))
    while sim.step():
        pass
    sim.shutdown()
    return sim, sim.queue.get_many_nowait(100_000, hold=False)


def decoded(frames: list[tuple[int, bytes]]) -> list[tuple[int, Frame]]:
    codec = FrameCodec()
    return [(seq, codec.decode(frame)) for seq, frame in frames]


def with_faults(block: str) -> str:
    return BASE + "faults:\n" + "".join(f"  {line}\n" for line in block.splitlines())


def test_no_faults_block_means_no_injector_and_the_same_frames() -> None:
    sim, frames = run_frames(BASE)
    assert sim.faults is None
    faulted, same = run_frames(with_faults("duplicate: 0.0\ncorrupt: 0"))
    assert faulted.faults is None and same == frames


def test_frame_faults_touch_only_the_frames_they_list() -> None:
    _, clean = run_frames(BASE)
    sim, frames = run_frames(with_faults("duplicate: 0.3\ncorrupt: 0.3\ntruncate: 0.3"))
    assert sim.faults is not None
    entries = sim.faults.entries(SERVER, None)
    by_kind: dict[str, set[int]] = {}
    for entry in entries:
        by_kind.setdefault(entry["fault"], set()).update(entry["seq"])
    assert by_kind.keys() == {"duplicate", "corrupt", "truncate"}
    assert not by_kind["corrupt"] & by_kind["truncate"]  # a cut frame is not also flipped
    clean_by_seq = dict(clean)
    seen: list[int] = []
    for seq, frame in frames:
        seen.append(seq)
        if seq in by_kind["corrupt"] or seq in by_kind["truncate"]:
            assert frame != clean_by_seq[seq]
        else:
            assert frame == clean_by_seq[seq]
    expected = [s for s, _ in clean for _ in range(2 if s in by_kind["duplicate"] else 1)]
    assert seen == expected


def test_each_fault_draws_from_its_own_stream() -> None:
    def touched(block: str, kind: str) -> set[int]:
        sim, _ = run_frames(with_faults(block))
        assert sim.faults is not None
        return {s for e in sim.faults.entries(SERVER, None) if e["fault"] == kind for s in e["seq"]}

    alone = touched("duplicate: 0.4", "duplicate")
    assert (
        alone
        and touched("duplicate: 0.4\ncorrupt: 0.5\nreorder: {share: 0.5, window: 3}", "duplicate")
        == alone
    )
    # Another seed picks other frames; the same seed the same.
    assert touched("duplicate: 0.4", "duplicate") == alone
    other = BASE.replace("seed: 5", "seed: 6") + "faults: {duplicate: 0.4}\n"
    sim, _ = run_frames(other)
    assert sim.faults is not None
    assert {s for e in sim.faults.entries(SERVER, None) for s in e["seq"]} != alone


def test_reorder_delivers_every_frame_once_each_held_one_after_1_to_window_later_ones() -> None:
    _, clean = run_frames(BASE)
    sim, frames = run_frames(with_faults("reorder: {share: 0.5, window: 2}"))
    assert sim.faults is not None
    assert sorted(frames) == sorted(clean)
    order = [seq for seq, _ in frames]
    assert order != sorted(order)
    entries = sim.faults.entries(SERVER, None)
    assert entries
    for entry in entries:
        held = entry["held"]
        ahead = [seq for seq in entry["seq"] if seq != held]
        assert 1 <= len(ahead) <= 2
        assert all(order.index(seq) < order.index(held) for seq in ahead)
        assert all(seq > held for seq in ahead)
        assert entry["delivered_after"] == max(ahead, key=order.index)
        assert set(entry["frames"]) == {str(seq) for seq in entry["seq"]}


def test_a_crash_loses_queued_frames_cuts_open_sessions_bills_them_by_their_latest_record() -> None:
    _, clean = run_frames(BASE)
    sim, frames = run_frames(with_faults("crash: {at: 13m, restart_after: 10m, queued: 90s}"))
    assert sim.faults is not None
    (entry,) = sim.faults.entries(SERVER, None)
    records = decoded(frames)
    # Alice's STAMP and DB STAMP at 11:00 went before the last 90 s; bob's web request at
    # 12:00 was still in MQ$BILLING: lost. Until then, the frames of the run without faults.
    assert entry["lost"] == [6]
    assert records[:5] == decoded(clean)[:5]
    assert entry["at"] == "2026-11-21T09:13:00.00Z"
    assert entry["restart_at"] == "2026-11-21T09:23:00.00Z"
    assert entry["sessions_without_end"] == 2
    # The mail due at 13:00 (the crash's instant: the crash comes first) was never sent.
    assert entry["script_actions_skipped"] == 1
    # The lost frame, and each cut session's latest SESSIONREC and DBREC: bob's START (3),
    # alice's STAMP (4) and DB STAMP (5).
    assert entry["seq"] == [3, 4, 5, 6]
    assert entry["frames"]["6"] == {
        "user": "CN=Bob Jones/O=Acme",
        "fields": {"web": 1, "web_bytes": 77},
    }
    assert entry["frames"]["4"]["fields"] == {"sessions": 1, "bytes_in": 1200, "bytes_out": 800}
    assert entry["frames"]["5"]["fields"] == {"db_open_time": 60000}
    # After the restart at 23m: alice's edit at 24m starts a session on slot 1 with the
    # next SeqNo, her logout ends it; bob's transfer at 26m takes slot 1 again.
    sessions = [
        (seq, f.rec.SessionID, f.rec.Action, f.rec.BytesIn)
        for seq, f in records
        if isinstance(f.rec, SessionRec)
    ]
    assert sessions == [
        (1, (1, 1), c.BILL_SESSION_START, 600),
        (3, (2, 1), c.BILL_SESSION_START, 10),
        (4, (1, 1), c.BILL_SESSION_STAMP, 1200),
        (7, (1, 2), c.BILL_SESSION_START, 5),
        (10, (1, 2), c.BILL_SESSION_END, 5),
        (11, (1, 3), c.BILL_SESSION_START, 1),
        (12, (1, 3), c.BILL_SESSION_END, 1),
    ]
    users = sim.server.ledger.as_dict()
    alice, bob = users[ALICE], users["CN=Bob Jones/O=Acme"]
    # Alice: the cut session from its STAMP (1200/800) and DB STAMP (60000); the second
    # 5/0 and a minute open (6000).
    assert (alice["sessions"], alice["bytes_in"], alice["bytes_out"]) == (2, 1205, 800)
    assert alice["db_open_time"] == 60000 + 6000
    # Bob: the cut session from its START (10/20), then 1/0; the lost web request is billed.
    assert (bob["sessions"], bob["bytes_in"], bob["bytes_out"]) == (2, 11, 20)
    assert (bob["web"], bob["web_bytes"], bob["mail"]) == (1, 77, 0)


def test_a_crash_without_restart_writes_nothing_more() -> None:
    sim, frames = run_frames(with_faults("crash: {at: 13m, queued: 0s}"))
    assert sim.faults is not None
    (entry,) = sim.faults.entries(SERVER, None)
    assert entry["restart_at"] is None and entry["lost"] == []
    assert len(frames) == 6  # up to the HTTP request at 12:00
    # The mail at 13m, alice's edit and logout, bob's transfer and logout.
    assert entry["script_actions_skipped"] == 5


def ticks(value: TimeDate) -> int:
    return value.julian_day * TICKS_PER_DAY + value.ticks


def test_a_clock_step_moves_the_stamps_and_not_the_elapsed_times() -> None:
    _, clean = run_frames(BASE)
    sim, frames = run_frames(with_faults("clock_step: {at: 10m, by: -1h}"))
    assert sim.faults is not None
    (entry,) = sim.faults.entries(SERVER, None)
    first = entry["seq"][0]
    hour = 3600 * 100
    for (seq, frame), (_, unstepped) in zip(decoded(frames), decoded(clean), strict=True):
        original = unstepped
        if seq < first:
            assert frame == original
        else:
            assert ticks(frame.TimeStamp) == ticks(original.TimeStamp) - hour
            if isinstance(original.rec, MailRec):  # posted as it is routed: its time too
                assert isinstance(frame.rec, MailRec)
                assert ticks(frame.rec.PostedDate) == ticks(original.rec.PostedDate) - hour
                # Its OriginatorID's SequenceTime is the PostedDate.
                oid = original.rec.OriginatorID._replace(SequenceTime=frame.rec.PostedDate)
                original = original._replace(
                    rec=original.rec._replace(PostedDate=frame.rec.PostedDate, OriginatorID=oid)
                )
            assert frame.rec == original.rec  # DBOpenTime and the rest: as without the step
    assert entry["by_s"] == -3600 and entry["at"] == "2026-11-21T09:10:00.00Z"


def test_wrap_starts_the_counters_near_2_32_and_bills_what_the_end_carries() -> None:
    _, clean = run_frames(BASE)
    sim, frames = run_frames(with_faults("wrap: true"))
    assert sim.faults is not None
    (entry,) = sim.faults.entries(SERVER, None)
    wrapped = set()
    last: dict[Any, tuple[int, int]] = {}
    for (seq, frame), (_, original) in zip(decoded(frames), decoded(clean), strict=True):
        if isinstance(frame.rec, SessionRec):
            assert isinstance(original.rec, SessionRec)
            assert frame.rec.BytesIn == (WRAP_START + original.rec.BytesIn) & 0xFFFFFFFF
            assert frame.rec.BytesOut == (WRAP_START + original.rec.BytesOut) & 0xFFFFFFFF
            before = last.get(frame.rec.SessionID, (WRAP_START, WRAP_START))
            if frame.rec.BytesIn < before[0] or frame.rec.BytesOut < before[1]:
                wrapped.add(seq)
            last[frame.rec.SessionID] = (frame.rec.BytesIn, frame.rec.BytesOut)
        else:
            assert frame == original
    assert set(entry["seq"]) == wrapped and wrapped
    alice = sim.server.ledger.as_dict()[ALICE]
    assert alice["bytes_in"] == (WRAP_START + 1205) & 0xFFFFFFFF
    assert alice["bytes_out"] == (WRAP_START + 800) & 0xFFFFFFFF


def test_the_crash_and_clock_step_times_must_be_inside_the_run() -> None:
    with pytest.raises(
        Exception, match=r"f\.yaml:\d+: faults\.crash\.at: 1h is not before the end"
    ):
        load_scenario_text(with_faults("crash: {at: 60m}"), "f.yaml")


# -- which frames a share picks ------------------------------------------------------------------


def picked(picks: FramePicks, seqs: range | list[int]) -> list[int]:
    return [seq for seq in seqs if seq >= picks.next and picks.picks(seq)]


@pytest.mark.parametrize("share", [0.5, 0.1, 0.001])
def test_a_share_picks_about_that_share_of_frames_independently(share: float) -> None:
    frames = 400_000
    count = len(picked(FramePicks(stream_key(1, "t"), share), range(1, frames + 1)))
    expected = share * frames
    assert abs(count - expected) < 5 * (expected * (1 - share)) ** 0.5  # five sigma


def test_shares_of_none_and_all_and_the_same_picks_whatever_frames_are_missing() -> None:
    assert picked(FramePicks(1, 0.0), range(1, 1000)) == []
    assert picked(FramePicks(1, 1.0), range(1, 100)) == list(range(1, 100))
    every = picked(FramePicks(stream_key(3, "t"), 0.2), range(1, 2000))
    # Frames a crash lost never get here: the others are picked as before.
    some = picked(FramePicks(stream_key(3, "t"), 0.2), [s for s in range(1, 2000) if s % 3])
    assert some == [seq for seq in every if seq % 3]
    assert every != picked(FramePicks(stream_key(4, "t"), 0.2), range(1, 2000))
