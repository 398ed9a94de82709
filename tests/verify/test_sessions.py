"""What the checker keeps of sessions: the ended ones compactly, a session's subject line."""

from __future__ import annotations

from samples import SERVER

from simulator.verify.events import ServerTimeline
from simulator.verify.sessions import EndedKeys, SessionState, session_subject


def test_ended_seqnos_of_a_slot_keep_only_the_newest_frame() -> None:
    ended = EndedKeys()
    for seq, frame in ((1, 10), (2, 20), (3, 30)):
        ended.add((SERVER, 4, seq), frame)
    assert ended.end_frame((SERVER, 4, 3)) == 30
    assert ended.end_frame((SERVER, 4, 1)) == 0  # ended, its frame no longer kept
    assert ended.end_frame((SERVER, 4, 4)) is None
    assert ended.end_frame((SERVER, 5, 1)) is None
    assert ended.end_frame(("CN=Other/O=Acme", 4, 1)) is None


def test_seqnos_out_of_order_join_the_run_once_the_gap_fills() -> None:
    ended = EndedKeys()
    ended.add((SERVER, 1, 3), 30)
    ended.add((SERVER, 1, 2), 20)
    assert ended.end_frame((SERVER, 1, 3)) == 30 and ended.end_frame((SERVER, 1, 2)) == 20
    ended.add((SERVER, 1, 1), 10)  # 1..3 now a run: only the newest keeps its frame
    assert ended.end_frame((SERVER, 1, 3)) == 30
    assert ended.end_frame((SERVER, 1, 2)) == 0
    ended.add((SERVER, 1, 9), 90)
    assert ended.end_frame((SERVER, 1, 9)) == 90 and ended.end_frame((SERVER, 1, 5)) is None


def test_a_session_is_named_by_its_sessionid_and_user() -> None:
    key = (SERVER, 3, 1)
    assert session_subject(key, "CN=Alice/O=Acme") == "session (3,1) CN=Alice/O=Acme"
    session = SessionState(ServerTimeline(SERVER), key, "CN=Alice/O=Acme", 5, 0)
    assert session.subject == "session (3,1) CN=Alice/O=Acme"
    assert not session.started and session.first_frame == 5
    session.boundaries_from(700)
    assert session.start_ticks == 700
