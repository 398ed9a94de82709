"""adapters/pictures.py: a Timeline drawn as SVG and PNG, read back as a file.

The timelines are built here by hand (the model's own tests are in
tests/verify/test_timeline.py), so these tests hold the drawing alone: one bar per session
with its SVG id, a PNG that decodes at a sane size, how much detail a picture gets, the
note when sessions are left out, a band per crash.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from samples import SERVER

from simulator.adapters.pictures import (
    Detail,
    PictureFormat,
    PictureText,
    choose_detail,
    draw_timeline,
    picture_format,
    session_label,
)
from simulator.verify.ticks import ticks_of
from simulator.verify.timeline import (
    DatabaseRow,
    Lane,
    Mark,
    MarkKind,
    OpenInterval,
    SessionBar,
    Timeline,
)
from simulator.wire.timedate import TimeDate, timedate_from_datetime

T0 = ticks_of(timedate_from_datetime(datetime(2026, 11, 21, 9, 0, tzinfo=UTC)))
MINUTE = 6000
BAR_ID = re.compile(rb'id="session-bar-(\d+)"')


def bar(n: int, *, databases: int = 1, end: bool = True) -> SessionBar:
    start = T0 + n * MINUTE
    rows = tuple(
        DatabaseRow(
            TimeDate(d, 0x85258A3B),
            f"db{d}.nsf",
            (OpenInterval(start, start + 20 * MINUTE, "CLOSE", (start + 15 * MINUTE,)),),
            (Mark(start + MINUTE, MarkKind.CHARGE, "read 0.05"),),
            start + 30 * MINUTE,
        )
        for d in range(databases)
    )
    return SessionBar(
        server=SERVER,
        index=n,
        seqno=1,
        user=f"CN=User {n}/O=Acme",
        start=start,
        end=start + 30 * MINUTE if end else None,
        stamps=(start + 15 * MINUTE,),
        databases=rows,
        records=3 + databases,
        last=start + 15 * MINUTE,
    )


def timeline(
    sessions: int,
    *,
    databases: int = 1,
    total: int | None = None,
    crashes: tuple[tuple[int, int], ...] = (),
    open_ended: int = 0,
) -> Timeline:
    bars = tuple(bar(n, databases=databases, end=n > open_ended) for n in range(1, sessions + 1))
    last = max(b.start + 30 * MINUTE for b in bars) if bars else T0
    lanes = (
        (Lane.MAIL, (Mark(T0 + 2 * MINUTE, MarkKind.MAIL), Mark(T0 + 9 * MINUTE, MarkKind.MAIL))),
        (Lane.AGENT, (Mark(T0 + 4 * MINUTE, MarkKind.AGENT, span=350),)),
    )
    return Timeline(
        sessions=bars,
        lanes=lanes,
        first=T0,
        last=last,
        frames=10 * sessions,
        total_sessions=total if total is not None else sessions,
        suppress=15 * MINUTE,
        grid_origin=T0,
        zone=timedelta(0),
        crashes=crashes,
        servers=(SERVER,),
    )


def svg_of(drawn: Timeline, text: PictureText | None = None) -> bytes:
    out = io.BytesIO()
    draw_timeline(drawn, out, PictureFormat.SVG, text or PictureText("test"))
    return out.getvalue()


@pytest.mark.parametrize("sessions", [1, 4, 12, 70, 200])
def test_the_svg_holds_one_bar_per_session_numbered_from_the_top(sessions: int) -> None:
    svg = svg_of(timeline(sessions))

    numbers = [int(n) for n in BAR_ID.findall(svg)]
    assert numbers == list(range(1, sessions + 1))


def test_the_png_decodes_at_a_sane_size(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    draw_timeline(timeline(3), path, PictureFormat.PNG, PictureText("test"))

    with Image.open(path) as image:
        image.load()
        width, height = image.size
        assert image.format == "PNG"
    assert 1200 <= width <= 2400
    assert 400 <= height <= 2000


def test_a_tall_picture_stays_within_a_few_thousand_pixels(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    draw_timeline(timeline(200, databases=3), path, PictureFormat.PNG, PictureText("test"))

    with Image.open(path) as image:
        width, height = image.size
    assert width <= 1600
    assert 1500 <= height <= 5000  # a readable row per session, not a poster


@pytest.mark.parametrize(
    ("sessions", "databases", "detail"),
    [
        (1, 2, Detail.ANNOTATED),
        (4, 2, Detail.ANNOTATED),
        (5, 2, Detail.DETAILED),
        (20, 1, Detail.DETAILED),
        (31, 1, Detail.COMPACT),  # 62 rows: too many for a row per database
        (2, 9, Detail.COMPACT),  # a session with more databases than rows can show
        (200, 0, Detail.COMPACT),
    ],
)
def test_how_much_a_band_shows_depends_on_how_many_rows_there_are(
    sessions: int, databases: int, detail: Detail
) -> None:
    assert choose_detail(timeline(sessions, databases=databases)) is detail


def test_the_note_says_when_sessions_are_left_out() -> None:
    assert b'id="busiest-note"' in svg_of(timeline(5, total=9))
    assert b'id="busiest-note"' not in svg_of(timeline(5))


def test_each_crash_is_a_band() -> None:
    crashes = ((T0 + 10 * MINUTE, T0 + 15 * MINUTE), (T0 + 25 * MINUTE, T0 + 26 * MINUTE))
    svg = svg_of(timeline(2, crashes=crashes))

    assert svg.count(b'id="crash-') == 2


@pytest.mark.parametrize("sessions", [2, 12, 70])
def test_a_session_without_end_gets_an_open_end(sessions: int) -> None:
    svg = svg_of(timeline(sessions, open_ended=2))

    assert svg.count(b'id="open-end-') == 2


def test_the_same_timeline_gives_the_same_svg() -> None:
    assert svg_of(timeline(3)) == svg_of(timeline(3))


def test_the_format_is_the_file_names_suffix() -> None:
    assert picture_format(Path("a/b.svg")) is PictureFormat.SVG
    assert picture_format(Path("B.PNG")) is PictureFormat.PNG
    assert picture_format(Path("b.jpg")) is None
    assert picture_format(Path("svg")) is None


def test_a_session_is_labelled_by_its_user_and_sessionid() -> None:
    one = bar(3)
    assert session_label(one, with_server=False) == "User 3/Acme · sid 3.1"
    assert session_label(one, with_server=True) == "User 3/Acme · sid 3.1 @Mail01"
