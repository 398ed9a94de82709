"""The frame layout against a real C compiler: queue/billmsg.h and tests/c/crosscheck.c.

For both layouts (natural, and `-DBILLSIM_WIN32_LAYOUT` for pack(1)) and both framings:

- what gcc lays out (`crosscheck layout`) is what the codec's field tables compute;
- frames the C program builds field by field are byte-identical to `encode_record`'s
  for the same values, and decode in Python to exactly those values;
- frames Python writes (known values, extremes, a seeded random batch) read back in C
  field by field to the Python values, and rebuild in C to the same bytes (so every
  padding byte is zero).

Expected lengths come from the sizes docs/wire-format.md lists (copied as literals into
tests/samples.py), not from the codec.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

import pytest
from cbuild import (
    C_DIR,
    CFLAGS,
    LAYOUT_MACROS,
    QUEUE_DIR,
    c_quoted,
    compile_c,
    gcc,
    parse_fields,
    parse_lines,
    run_c,
)
from samples import HEADER, REC_SIZE

from simulator.commands.run import RunRequest
from simulator.commands.run import run as run_command
from simulator.scenario.bundled import resolve_scenario
from simulator.scenario.loader import load_scenario
from simulator.scenario.models import Scenario
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec, frame_geometry
from simulator.wire.layout import Framing, Layout, compile_fields
from simulator.wire.records import (
    BUILTIN_KINDS,
    HEADER_FIELDS,
    HTTP_STRING_NAMES,
    AgentRec,
    CustomRec,
    DbRec,
    DocumentRec,
    Frame,
    HttpReqRec,
    MailRec,
    Oid,
    Record,
    ReplRec,
    SessionID,
    SessionRec,
    Unid,
)
from simulator.wire.stream import read_frames
from simulator.wire.timedate import ZERO_TIMEDATE, TimeDate

pytestmark = pytest.mark.gcc

KIND_BY_PYTHON_TYPE = {kind.python_type: kind for kind in BUILTIN_KINDS}

# BILLREC's member for each record, as billing.h names it.
UNION_MEMBER = {
    "SESSIONREC": "sess",
    "DBREC": "db",
    "REPLREC": "repl",
    "DOCUMENT": "doc",
    "MAILREC": "mail",
    "AGENTREC": "agent",
    "HTTPREQREC": "HttpRequest",
}


class Written(NamedTuple):
    """A record as BillingWrite sends it: with the server's name and the time stamp."""

    rec: Record
    server: str
    stamp: TimeDate


# ---- Known values: the frames `crosscheck write` builds (keep in step with crosscheck.c) ----
# Not the shared samples of tests/samples.py: tests/c/crosscheck.c spells these same values
# out in C, so they are pinned here, and changing one means changing both.

SERVER = "CN=Billing01/O=Acme"
ALICE = "CN=Alice Example/O=Acme"
DAY = 2461366  # 2026-11-21
T0 = 3330000  # 09:15:00.00
REPLICA = TimeDate(0x006CDCC0, 0x852563FC)
KNOWN_OID = Oid(
    TimeDate(0x11111111, 0x85258A3B), TimeDate(0x22222222, 0x85258A3C), 5, TimeDate(T0 - 100, DAY)
)


def _stamp(i: int) -> TimeDate:
    return TimeDate(T0 + i, DAY)


KNOWN: tuple[Written, ...] = (
    Written(
        SessionRec(SessionID(3, 1), c.BILL_SESSION_START, ALICE, 1234, 56789, "192.0.2.10"),
        SERVER,
        _stamp(0),
    ),
    Written(DbRec(SessionID(3, 1), c.BILL_DB_CLOSE, ALICE, 12345, REPLICA), SERVER, _stamp(1)),
    Written(
        ReplRec(
            SessionID(7, 2),
            1000000,
            2000,
            TimeDate(0x0052C1F0, 0x85258A3B),
            "CN=Hub01/O=Acme",
            "CN=Spoke02/O=Acme",
            c.REPL_PRIORITY["high"],
        ),
        SERVER,
        _stamp(2),
    ),
    Written(
        DocumentRec(c.BILLCHARGEWRITE, REPLICA, "CN=Zoë Ångström/O=Acme", KNOWN_OID, 12.5),
        SERVER,
        _stamp(3),
    ),
    Written(
        MailRec(
            "Memo",
            KNOWN_OID,
            Unid(ZERO_TIMEDATE, ZERO_TIMEDATE),
            4096,
            "CN=Hub01/O=Acme",
            c.MAIL_PRIORITY["normal"],
            c.MAIL_ROUTING_STATE["pending"],
            c.MAIL_REPORT["confirm"],
            ALICE,
            3,
            TimeDate(T0 - 50, DAY),
            ("CN=Bob/O=Acme", "CN=Carol/O=Acme", "dave@example.com"),
        ),
        SERVER,
        _stamp(4),
    ),
    Written(
        MailRec(
            "Reply",
            KNOWN_OID,
            Unid(TimeDate(1, 2), TimeDate(3, 4)),
            4096,
            "CN=Hub01/O=Acme",
            c.MAIL_PRIORITY["high"],
            c.MAIL_ROUTING_STATE["hold"],
            c.MAIL_REPORT["trace"],
            ALICE,
            60,
            TimeDate(T0 - 50, DAY),
            tuple(f"user{i:02d}@example.com" for i in range(60)),
        ),
        SERVER,
        _stamp(5),
    ),
    Written(
        AgentRec(
            250,
            c.BILL_AGENT_WARNINGS | c.BILL_AGENT_PUBLIC,
            ALICE,
            "Archive Old Mail",
            "mail/alice.nsf",
        ),
        SERVER,
        _stamp(6),
    ),
    Written(
        HttpReqRec(
            512,
            37,
            200,
            "21/Nov/2026:09:15:00 +0000",
            ALICE,
            None,
            "https://intranet.example/",
            "192.0.2.10",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "GET /mail/alice.nsf/($Inbox)?OpenView HTTP/1.1",
            None,
        ),
        SERVER,
        _stamp(7),
    ),
)


# ---- Values Python writes for C to read ----

DWORD_MAX = 0xFFFF_FFFF
WORD_MAX = 0xFFFF
ALL_ONES = TimeDate(DWORD_MAX, DWORD_MAX)
# Zone 5h30 east, DST: every zone bit of Innards[1] in use.
ZONED = TimeDate(8_639_999, (1 << 31) | (1 << 30) | (2 << 28) | (5 << 24) | DAY)


def _text_of(nbytes: int, filler: str = "é") -> str:
    """A string of exactly `nbytes` bytes of UTF-8, mostly multibyte, with C-awkward bytes."""
    head = 'CN="q\\\t'
    body_bytes = nbytes - len(head.encode())
    unit = len(filler.encode())
    text = head + filler * (body_bytes // unit) + "x" * (body_bytes % unit)
    assert len(text.encode()) == nbytes
    return text


def extremes(layout: Layout) -> tuple[Written, ...]:
    """Max-length strings, empty strings, DWORD and WORD extremes, odd TIMEDATEs and NUMBERs."""
    name = _text_of(c.MAXUSERNAME)
    other = _text_of(c.MAXUSERNAME, "€")  # three-byte characters
    all_ones_oid = Oid(ALL_ONES, ALL_ONES, DWORD_MAX, ALL_ONES)
    odd_oid = Oid(ZONED, TimeDate(0, DWORD_MAX), 0, ZONED)
    # Recipients that take the frame to exactly MQ_MAX_MSGSIZE.
    room = c.MQ_MAX_MSGSIZE - HEADER[layout].rec_at - REC_SIZE[layout]["MAILREC"]
    one = "CN=Recipient Ünïcode/OU=Sales/O=Acme"
    count = room // (len(one.encode()) + 1) - 1
    recipients = (one,) * count + ("x" * (room - count * (len(one.encode()) + 1)),)
    assert len(",".join(recipients).encode()) == room
    writes: list[Written] = [
        Written(
            SessionRec(
                SessionID(WORD_MAX, WORD_MAX),
                c.BILL_SESSION_END,
                name,
                DWORD_MAX,
                0,
                "f" * (c.MAXNETADR - 1),
            ),
            name,
            ALL_ONES,
        ),
        Written(SessionRec(SessionID(0, 0), 0, "", 0, DWORD_MAX, ""), "", ZERO_TIMEDATE),
        Written(
            DbRec(SessionID(1, WORD_MAX), WORD_MAX, other, DWORD_MAX, TimeDate(0, DWORD_MAX)),
            other,
            ZONED,
        ),
        Written(DbRec(SessionID(0, 0), 0, "", 0, ZERO_TIMEDATE), SERVER, ZERO_TIMEDATE),
        Written(
            ReplRec(SessionID(WORD_MAX, 0), DWORD_MAX, DWORD_MAX, ZONED, name, other, WORD_MAX),
            SERVER,
            TimeDate(DWORD_MAX, 0),
        ),
        Written(ReplRec(SessionID(0, 0), 0, 0, ZERO_TIMEDATE, "", "", 0), SERVER, ZONED),
        *(
            Written(DocumentRec(WORD_MAX, ALL_ONES, name, all_ones_oid, charge), SERVER, _stamp(i))
            for i, charge in enumerate(
                (-0.0, 0.1, -1e-300, 5e-324, 1.7976931348623157e308, float("inf"), float("-inf"))
            )
        ),
        Written(DocumentRec(0, ZERO_TIMEDATE, "", odd_oid, float("nan")), SERVER, _stamp(9)),
        Written(
            MailRec(
                _text_of(c.DESIGN_NAME_MAX - 1),
                all_ones_oid,
                Unid(ALL_ONES, ZONED),
                DWORD_MAX,
                name,
                WORD_MAX,
                WORD_MAX,
                WORD_MAX,
                other,
                WORD_MAX,
                ALL_ONES,
                recipients,
            ),
            name,
            ALL_ONES,
        ),
        Written(
            MailRec(
                "",
                odd_oid,
                Unid(ZERO_TIMEDATE, ZERO_TIMEDATE),
                0,
                "",
                0,
                0,
                0,
                "",
                0,
                ZERO_TIMEDATE,
                (),
            ),
            SERVER,
            ZERO_TIMEDATE,
        ),
        Written(
            MailRec(
                "Memo",
                odd_oid,
                Unid(ZONED, ZONED),
                1,
                "CN=Hub01/O=Acme",
                2,
                1,
                1,
                ALICE,
                1,
                ZONED,
                ("a",),
            ),
            SERVER,
            ZONED,
        ),
        Written(AgentRec(DWORD_MAX, DWORD_MAX, "", "", ""), SERVER, ALL_ONES),
        Written(AgentRec(0, 0, "u", "", "d"), SERVER, ZERO_TIMEDATE),
        Written(AgentRec(1, 7, name * 8, other * 8, _text_of(4000, "ß")), SERVER, ZONED),
        Written(HttpReqRec(DWORD_MAX, DWORD_MAX, DWORD_MAX, *(None,) * 8), SERVER, ALL_ONES),
        Written(HttpReqRec(0, 0, 0, *("",) * 8), SERVER, ZERO_TIMEDATE),
        Written(HttpReqRec(1, 2, 404, *(None,) * 7, "text/html"), SERVER, ZONED),
        Written(
            HttpReqRec(3, 4, 500, *(f"{field}={_text_of(700)}" for field in HTTP_STRING_NAMES)),
            SERVER,
            ZONED,
        ),
    ]
    return tuple(writes)


_ALPHABET = 'abcXYZ019 =/,.-_@"\\\t\n~éß€Ω中😀'


def _random_text(rng: random.Random, max_bytes: int, *, commas: bool = True) -> str:
    """Up to `max_bytes` bytes of UTF-8 (whole characters), never a NUL."""
    alphabet = _ALPHABET if commas else _ALPHABET.replace(",", "")
    limit = rng.choice((0, 1, 3, 10, 40, max_bytes))
    chars: list[str] = []
    size = 0
    while True:
        ch = rng.choice(alphabet)
        n = len(ch.encode())
        if size + n > min(limit, max_bytes):
            return "".join(chars)
        chars.append(ch)
        size += n


def _random_word(rng: random.Random) -> int:
    return rng.choice((0, 1, WORD_MAX, rng.randrange(WORD_MAX + 1)))


def _random_dword(rng: random.Random) -> int:
    return rng.choice((0, 1, DWORD_MAX, rng.randrange(DWORD_MAX + 1)))


def _random_timedate(rng: random.Random) -> TimeDate:
    return TimeDate(_random_dword(rng), _random_dword(rng))


def _random_oid(rng: random.Random) -> Oid:
    return Oid(
        _random_timedate(rng), _random_timedate(rng), _random_dword(rng), _random_timedate(rng)
    )


def _random_record(rng: random.Random) -> Record:
    name_max = c.MAXUSERNAME
    match rng.randrange(7):
        case 0:
            return SessionRec(
                SessionID(_random_word(rng), _random_word(rng)),
                _random_word(rng),
                _random_text(rng, name_max),
                _random_dword(rng),
                _random_dword(rng),
                _random_text(rng, c.MAXNETADR - 1),
            )
        case 1:
            return DbRec(
                SessionID(_random_word(rng), _random_word(rng)),
                _random_word(rng),
                _random_text(rng, name_max),
                _random_dword(rng),
                _random_timedate(rng),
            )
        case 2:
            return ReplRec(
                SessionID(_random_word(rng), _random_word(rng)),
                _random_dword(rng),
                _random_dword(rng),
                _random_timedate(rng),
                _random_text(rng, name_max),
                _random_text(rng, name_max),
                _random_word(rng),
            )
        case 3:
            return DocumentRec(
                _random_word(rng),
                _random_timedate(rng),
                _random_text(rng, name_max),
                _random_oid(rng),
                rng.choice((rng.uniform(-1e9, 1e9), rng.random(), float(rng.randrange(100)))),
            )
        case 4:
            recipients = tuple(
                _random_text(rng, 80, commas=False) or "r" for _ in range(rng.randrange(12))
            )
            return MailRec(
                _random_text(rng, c.DESIGN_NAME_MAX - 1),
                _random_oid(rng),
                Unid(_random_timedate(rng), _random_timedate(rng)),
                _random_dword(rng),
                _random_text(rng, name_max),
                _random_word(rng),
                _random_word(rng),
                _random_word(rng),
                _random_text(rng, name_max),
                len(recipients),
                _random_timedate(rng),
                recipients,
            )
        case 5:
            return AgentRec(
                _random_dword(rng),
                _random_dword(rng),
                _random_text(rng, 300),
                _random_text(rng, 300),
                _random_text(rng, 300),
            )
        case _:
            return HttpReqRec(
                _random_dword(rng),
                _random_dword(rng),
                _random_dword(rng),
                *(rng.choice((None, _random_text(rng, 300))) for _ in HTTP_STRING_NAMES),
            )


def random_batch(layout: Layout) -> tuple[Written, ...]:
    rng = random.Random(f"billsim-c-crosscheck-{layout.value}")
    return tuple(
        Written(_random_record(rng), _random_text(rng, c.MAXUSERNAME), _random_timedate(rng))
        for _ in range(300)
    )


VALUE_SETS: dict[str, Callable[[Layout], tuple[Written, ...]]] = {
    "known": lambda _layout: KNOWN,
    "extremes": extremes,
    "random": random_batch,
}


# ---- What the C reader must print for a record Python wrote ----


def _flatten(path: str, kind: str, value: object, out: dict[str, str]) -> None:
    """A field's `name=value` lines as crosscheck.c prints them, by the C type's kind."""
    if kind == "int":
        assert isinstance(value, int)
        out[path] = str(value)
    elif kind == "float":
        assert isinstance(value, float)
        out[path] = f"{value:.17g}"  # as printf's %.17g: both round correctly
    elif kind == "str":
        assert isinstance(value, str)
        out[path] = c_quoted(value.encode())
    elif kind in ("time", "id"):
        assert isinstance(value, TimeDate)
        out[f"{path}.Innards[0]"] = str(value.ticks)
        out[f"{path}.Innards[1]"] = str(value.day_zone)
    elif kind == "sessionid":
        assert isinstance(value, SessionID)
        out[f"{path}.Index"] = str(value.Index)
        out[f"{path}.SeqNo"] = str(value.SeqNo)
    elif kind == "unid":
        assert isinstance(value, Unid)
        _flatten(f"{path}.File", "time", value.File, out)
        _flatten(f"{path}.Note", "time", value.Note, out)
    elif kind == "oid":
        assert isinstance(value, Oid)
        _flatten(f"{path}.File", "time", value.File, out)
        _flatten(f"{path}.Note", "time", value.Note, out)
        out[f"{path}.Sequence"] = str(value.Sequence)
        _flatten(f"{path}.SequenceTime", "time", value.SequenceTime, out)
    else:
        raise AssertionError(f"no C rendering for kind {kind}")


def _variable_data(rec: Record, rec_size: int) -> tuple[int, dict[str, int], dict[str, str]]:
    """Bytes of variable data, the length/offset fields they set, and their `var.` lines."""
    if isinstance(rec, MailRec):
        recipients = ",".join(rec.Recipients).encode()
        return (
            len(recipients),
            {"RecipientSize": len(recipients)},
            {"var.Recipients": c_quoted(recipients)},
        )
    if isinstance(rec, AgentRec):
        names = [rec.UserName.encode(), rec.TaskName.encode(), rec.DatabaseName.encode()]
        return (
            sum(len(n) for n in names),
            dict(zip(("ULen", "TLen", "DLen"), (len(n) for n in names), strict=True)),
            {
                f"var.{label}": c_quoted(n)
                for label, n in zip(("UserName", "TaskName", "DatabaseName"), names, strict=True)
            },
        )
    if isinstance(rec, HttpReqRec):
        # Offsets count from the first byte of the HTTPREQREC; strings follow it in order.
        position = rec_size
        derived: dict[str, int] = {}
        lines: dict[str, str] = {}
        for label, value in zip(HTTP_STRING_NAMES, rec[3:], strict=True):
            if value is None:
                derived[f"Http{label}Offset"] = 0
                lines[f"var.{label}"] = "null"
                continue
            derived[f"Http{label}Offset"] = position
            lines[f"var.{label}"] = c_quoted(value.encode())
            position += len(value.encode()) + 1
        return position - rec_size, derived, lines
    return 0, {}, {}


def expected_views(
    writes: Iterable[Written], layout: Layout, framing: Framing
) -> list[dict[str, str]]:
    views: list[dict[str, str]] = []
    offset = 0
    for index, (rec, server, stamp) in enumerate(writes):
        kind = KIND_BY_PYTHON_TYPE[type(rec)]
        rec_size = REC_SIZE[layout][kind.name]
        var_size, derived, var_lines = _variable_data(rec, rec_size)
        length = HEADER[layout].rec_at + rec_size + var_size
        if framing is Framing.PAD_UNION:
            length = max(length, HEADER[layout].billmsg_size)
        view = {
            "frame": str(index),
            "offset": str(offset),
            "Len": str(length),
            "StructType": str(kind.struct_type),
            "Class": str(kind.bill_class),
        }
        _flatten("ServerName", "str", server, view)
        _flatten("TimeStamp", "time", stamp, view)
        member = UNION_MEMBER[kind.name]
        for name, ctype in kind.fields:
            value = derived[name] if name in kind.derived else getattr(rec, name)
            _flatten(f"rec.{member}.{name}", ctype.kind, value, view)
        view.update(var_lines)
        view["canonical"] = "identical"
        views.append(view)
        offset += length
    return views


def encode_all(writes: Iterable[Written], codec: FrameCodec) -> bytes:
    return b"".join(codec.encode_record(w.rec, w.server, w.stamp) for w in writes)


def assert_views_equal(actual: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    assert len(actual) == len(expected), "C read a different number of frames"
    for got, want in zip(actual, expected, strict=True):
        if got != want:
            keys = sorted(set(got) | set(want))
            diff = [
                f"  {k}: C {got.get(k)!s:.120} != Python {want.get(k)!s:.120}"
                for k in keys
                if got.get(k) != want.get(k)
            ]
            pytest.fail(f"frame {want['frame']} differs:\n" + "\n".join(diff), pytrace=False)


# ---- Fixtures and tests ----


@pytest.fixture(scope="module", params=list(Layout), ids=[layout.value for layout in Layout])
def crosscheck(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Layout, Path]:
    """crosscheck.c built once per layout for the whole module."""
    layout: Layout = request.param
    exe = compile_c([C_DIR / "crosscheck.c"], tmp_path_factory.mktemp("c"), layout)
    return layout, exe


FRAMINGS = pytest.mark.parametrize("framing", list(Framing), ids=[f.value for f in Framing])


def test_gcc_lays_out_what_the_codec_computes(crosscheck: tuple[Layout, Path]) -> None:
    layout, exe = crosscheck
    gcc_layout = parse_lines(run_c(exe, "layout"))
    geometry = frame_geometry(layout)
    header = compile_fields(HEADER_FIELDS, layout)
    python = {"BILLMSG.sizeof": geometry.billmsg_size, "BILLMSG.rec": geometry.rec_offset}
    python.update({f"BILLMSG.{name}": offset for name, offset in header.offsets.items()})
    python["BILLREC.sizeof"] = geometry.billmsg_size - geometry.rec_offset
    for kind in BUILTIN_KINDS:
        compiled = compile_fields(kind.fields, layout)
        python[f"{kind.name}.sizeof"] = compiled.size
        python.update({f"{kind.name}.{name}": off for name, off in compiled.offsets.items()})
    assert {k: int(v) for k, v in gcc_layout.items()} == python
    assert python["BILLMSG.sizeof"] == HEADER[layout].billmsg_size
    assert python["BILLMSG.rec"] == HEADER[layout].rec_at
    for kind in BUILTIN_KINDS:
        assert python[f"{kind.name}.sizeof"] == REC_SIZE[layout][kind.name]


@FRAMINGS
def test_frames_built_in_c_are_the_codecs_bytes(
    crosscheck: tuple[Layout, Path], framing: Framing
) -> None:
    layout, exe = crosscheck
    codec = FrameCodec(layout, framing)
    written = run_c(exe, "write", framing.value)
    expected = encode_all(KNOWN, codec)
    if written != expected:
        at = next(
            (i for i, (a, b) in enumerate(zip(written, expected, strict=False)) if a != b),
            min(len(written), len(expected)),
        )
        pytest.fail(
            f"C wrote {len(written)} bytes, Python {len(expected)}; first difference at byte {at}",
            pytrace=False,
        )

    frames = list(read_frames(io.BytesIO(written), codec))
    assert [f.Len for _, _, f in frames] == [len(data) for _, data, _ in frames]
    assert [Written(f.rec, f.ServerName, f.TimeStamp) for _, _, f in frames] == list(KNOWN)
    assert [(f.StructType, f.Class) for _, _, f in frames] == [
        (KIND_BY_PYTHON_TYPE[type(w.rec)].struct_type, KIND_BY_PYTHON_TYPE[type(w.rec)].bill_class)
        for w in KNOWN
    ]
    # And C reads its own frames back to the same values.
    views = parse_fields(run_c(exe, "read", framing.value, stdin=written))
    assert_views_equal(views, expected_views(KNOWN, layout, framing))


@FRAMINGS
@pytest.mark.parametrize("values", list(VALUE_SETS))
def test_c_reads_frames_python_wrote(
    crosscheck: tuple[Layout, Path], framing: Framing, values: str
) -> None:
    layout, exe = crosscheck
    writes = VALUE_SETS[values](layout)
    data = encode_all(writes, FrameCodec(layout, framing))
    views = parse_fields(run_c(exe, "read", framing.value, stdin=data))
    assert_views_equal(views, expected_views(writes, layout, framing))


def test_the_extremes_reach_the_limits() -> None:
    """The extreme value set does hit MQ_MAX_MSGSIZE and full-length char arrays."""
    for layout in Layout:
        codec = FrameCodec(layout, Framing.PAD_UNION)
        lengths = [len(codec.encode_record(*w)) for w in extremes(layout)]
        assert c.MQ_MAX_MSGSIZE in lengths


def test_gcc_is_installed() -> None:
    """Without gcc every test here must fail, never skip: CI installs it."""
    assert Path(gcc()).exists()


@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
def test_the_headers_static_asserts_reject_another_layout(layout: Layout, tmp_path: Path) -> None:
    """billmsg.h refuses to compile where the compiler would lay the structs out otherwise."""
    source = tmp_path / "uses_header.c"
    source.write_text('#include "billmsg.h"\nint main(void) { return (int)sizeof(BILLMSG); }\n')
    # The other layout's struct packing, under this layout's macros.
    packing = "-fpack-struct=1" if layout is Layout.LINUX_X86_64 else "-fpack-struct=8"
    command = [gcc(), *CFLAGS, *LAYOUT_MACROS[layout], f"-I{QUEUE_DIR}", "-fsyntax-only"]
    assert subprocess.run([*command, str(source)], capture_output=True, check=False).returncode == 0
    done = subprocess.run(
        [*command, packing, str(source)], capture_output=True, text=True, check=False
    )
    if layout is Layout.LINUX_X86_64:
        assert done.returncode != 0
        assert "billmsg.h layout" in done.stderr
    else:
        # #pragma pack(1) in the header wins over the command line: still the win32 layout.
        assert done.returncode == 0, done.stderr


# ---- The custom NOTECREATEREC, through the header `billsim header` generates ----

# What `notecreate write` builds (keep in step with tests/c/notecreate.c, which pins these
# values in C: they are not taken from tests/samples.py).
NOTECREATE_REPLICA = TimeDate(0x0052C1F1, 0x85258A3B)
KNOWN_NOTES: tuple[tuple[TimeDate, tuple[object, ...]], ...] = (
    (TimeDate(5040000, DAY), ("CN=Alice Smith/O=Acme", 0x20FA, NOTECREATE_REPLICA)),
    (ZERO_TIMEDATE, ("", 0, ZERO_TIMEDATE)),
    (TimeDate(8639999, 0xC0000000 | DAY), ("n" * c.MAXUSERNAME, DWORD_MAX, ALL_ONES)),
)
# BILLMNGR's NOTECREATEREC by hand: char[257], then NOTEID (aligned to 4 unless packed),
# then a DBID (TIMEDATE, aligned to 4 unless packed); sizeof rounded up to 4 unless packed.
NOTECREATE_LAYOUT = {
    Layout.LINUX_X86_64: {"sizeof": 272, "Username": 0, "dbNoteID": 260, "ReplicaID": 264},
    Layout.WIN32: {"sizeof": 269, "Username": 0, "dbNoteID": 257, "ReplicaID": 261},
}


def _notecreate_scenario() -> Scenario:
    return load_scenario(resolve_scenario("notecreate"))


@pytest.fixture(scope="module")
def notecreate_header(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`billsim header notecreate`, run as a user would, saved as notecreate.h."""
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "header", "notecreate"],
        capture_output=True,
        text=True,
        check=False,
        cwd=QUEUE_DIR.parent,
    )
    assert done.returncode == 0, done.stderr
    directory = tmp_path_factory.mktemp("generated")
    (directory / "notecreate.h").write_text(done.stdout)
    return directory


@pytest.fixture(scope="module", params=list(Layout), ids=[layout.value for layout in Layout])
def notecreate_reader(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    notecreate_header: Path,
) -> tuple[Layout, Path]:
    layout: Layout = request.param
    exe = compile_c(
        [C_DIR / "notecreate.c"],
        tmp_path_factory.mktemp("c"),
        layout,
        include_dirs=[notecreate_header],
    )
    return layout, exe


def _notecreate_view(index: int, offset: int, frame: Frame, data: bytes) -> dict[str, str]:
    view = {
        "frame": str(index),
        "offset": str(offset),
        "Len": str(len(data)),
        "StructType": str(frame.StructType),
        "Class": str(frame.Class),
    }
    _flatten("ServerName", "str", frame.ServerName, view)
    _flatten("TimeStamp", "time", frame.TimeStamp, view)
    if not isinstance(frame.rec, CustomRec):
        view["rec"] = "other"
        return view
    username, note_id, replica = frame.rec.values
    _flatten("rec.Username", "str", username, view)
    _flatten("rec.dbNoteID", "int", note_id, view)
    _flatten("rec.ReplicaID", "id", replica, view)
    view["canonical"] = "identical"
    return view


def test_gcc_lays_notecreaterec_out_as_billmngr_and_the_codec_do(
    notecreate_reader: tuple[Layout, Path],
) -> None:
    layout, exe = notecreate_reader
    gcc_layout = {k: int(v) for k, v in parse_lines(run_c(exe, "layout")).items()}
    [kind] = _notecreate_scenario().custom_kinds()
    compiled = compile_fields(kind.fields, layout)
    python = {"NOTECREATEREC.sizeof": compiled.size}
    python.update({f"NOTECREATEREC.{name}": off for name, off in compiled.offsets.items()})
    python["BILL_NOTECREATEREC"] = 32001
    python["BILLSIM_NOTECREATEREC_CLASS"] = c.BILL_CLASS_DATABASE
    assert gcc_layout == python
    assert {
        key.removeprefix("NOTECREATEREC."): value
        for key, value in python.items()
        if key.startswith("NOTECREATEREC.")
    } == NOTECREATE_LAYOUT[layout]


@FRAMINGS
def test_notecreate_frames_built_in_c_are_the_codecs_bytes(
    notecreate_reader: tuple[Layout, Path], framing: Framing
) -> None:
    layout, exe = notecreate_reader
    codec = FrameCodec(layout, framing, _notecreate_scenario().custom_kinds())
    expected = b"".join(
        codec.encode(
            Frame(32001, c.BILL_CLASS_DATABASE, "CN=Mail01/O=Acme", stamp, CustomRec(values))
        )
        for stamp, values in KNOWN_NOTES
    )
    written = run_c(exe, "write", framing.value)
    assert written == expected
    size = HEADER[layout].rec_at + NOTECREATE_LAYOUT[layout]["sizeof"]
    if framing is Framing.PAD_UNION:
        size = max(size, HEADER[layout].billmsg_size)
    assert len(written) == 3 * size
    views = parse_fields(run_c(exe, "read", framing.value, stdin=written))
    frames = list(read_frames(io.BytesIO(written), codec))
    assert [f.rec for _, _, f in frames] == [CustomRec(values) for _, values in KNOWN_NOTES]
    assert_views_equal(
        views,
        [
            _notecreate_view(index, offset, frame, data)
            for index, (offset, data, frame) in enumerate(frames)
        ],
    )


@FRAMINGS
def test_c_reads_the_notecreate_scenarios_run(
    notecreate_reader: tuple[Layout, Path], framing: Framing, tmp_path: Path
) -> None:
    """`billsim run notecreate --out`: C reads every header and each NOTECREATEREC as Python."""
    layout, exe = notecreate_reader
    out = tmp_path / "run.nbf"
    request = RunRequest(scenario="notecreate", out=out, layout=layout, framing=framing)
    assert run_command(request, stdout=io.StringIO(), stderr=io.StringIO()) == 0
    data = out.read_bytes()
    codec = FrameCodec(layout, framing, _notecreate_scenario().custom_kinds())
    frames = list(read_frames(io.BytesIO(data), codec))
    assert [f.StructType for _, _, f in frames].count(32001) == 3
    views = parse_fields(run_c(exe, "read", framing.value, stdin=data))
    assert_views_equal(
        views,
        [
            _notecreate_view(index, offset, frame, frame_bytes)
            for index, (offset, frame_bytes, frame) in enumerate(frames)
        ],
    )
