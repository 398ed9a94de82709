"""Codec rates per record type, on one core: frames/s encoded, decoded to JSON-ready dicts.

    python bench/encode.py [--count N] [--repeat N] [--layout linux-x86_64|win32]
                           [--frame pad-union|compact]

Each figure is the best of `--repeat` timed loops of `--count` calls, after a warm-up:
`encode` is `FrameCodec.encode_record` (record → frame bytes), `decode` is `JsonDecoder`
(frame bytes → the JSON form as a dict), `JSON line` adds the compact `json` text that
`billsim decode` prints. Aims: SESSIONREC ≥ 1,000,000 encodes/s and ≥ 300,000 decodes/s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame
from simulator.wire.layout import Framing, Layout
from simulator.wire.records import (
    AgentRec,
    DbRec,
    DocumentRec,
    HttpReqRec,
    MailRec,
    Oid,
    Record,
    ReplRec,
    SessionID,
    SessionRec,
    Unid,
)
from simulator.wire.timedate import TimeDate

SERVER = "CN=Mail01/O=Acme"
WHEN = TimeDate(3_330_000, 2_461_366)  # 2026-11-21T09:15:00.00Z
REPLICA = TimeDate(0x0052C1F0, 0x85258A3B)
ALICE = "CN=Alice Smith/O=Acme"
OID = Oid(TimeDate(0x11, 0x85258A3B), TimeDate(0x22, 0x85258A3C), 3, WHEN)

# Typical records: names of everyday length, a three-recipient memo, a full web request.
SAMPLES: tuple[tuple[str, Record], ...] = (
    (
        "SESSIONREC",
        SessionRec(SessionID(1, 1), c.BILL_SESSION_STAMP, ALICE, 4400, 92200, "10.1.2.3"),
    ),
    ("DBREC", DbRec(SessionID(1, 1), c.BILL_DB_STAMP, ALICE, 90000, REPLICA)),
    ("DOCUMENT", DocumentRec(c.BILLCHARGEREAD, REPLICA, ALICE, OID, 0.05)),
    ("REPLREC", ReplRec(SessionID(2, 1), 90000, 1200, REPLICA, "CN=Hub01/O=Acme", SERVER, 1)),
    (
        "MAILREC",
        MailRec(
            "Memo",
            OID,
            Unid(TimeDate(0, 0), TimeDate(0, 0)),
            48213,
            "CN=Hub01/O=Acme",
            1,
            0,
            1,
            ALICE,
            3,
            WHEN,
            ("CN=Bob Jones/O=Acme", "CN=Carol Diaz/O=Acme", "CN=Dan Wu/O=Acme"),
        ),
    ),
    ("AGENTREC", AgentRec(350, c.BILL_AGENT_PUBLIC, ALICE, "AMgr", "apps/orders.nsf")),
    (
        "HTTPREQREC",
        HttpReqRec(
            5120,
            35,
            200,
            "21/Nov/2026:09:50:00 +0000",
            ALICE,
            "10.1.2.9",
            None,
            "127.0.0.1",
            "Mozilla/5.0",
            "GET /apps/orders.nsf/byDate?OpenView HTTP/1.1",
            "text/html",
        ),
    ),
)
ENCODE_AIM = 1_000_000
DECODE_AIM = 300_000


def best_rate(loop: Callable[[int], None], count: int, repeat: int) -> float:
    """Calls per second of the fastest of `repeat` runs of `loop(count)`, after a warm-up."""
    loop(max(1, count // 10))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        loop(count)
        best = min(best, time.perf_counter() - start)
    return count / best


def encode_loop(codec: FrameCodec, rec: Record) -> Callable[[int], None]:
    encode = codec.encode_record

    def loop(count: int) -> None:
        for _ in range(count):
            encode(rec, SERVER, WHEN)

    return loop


def decode_loop(decoder: JsonDecoder, frame: bytes, *, text: bool) -> Callable[[int], None]:
    def loop(count: int) -> None:
        for _ in range(count):
            decoder(frame)

    def loop_text(count: int) -> None:
        dumps = dumps_frame
        for _ in range(count):
            dumps(decoder(frame))

    return loop_text if text else loop


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pin_to_one_core() -> str:
    """Run on one CPU, where the OS allows it: the figures are per core."""
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return "not pinned"
    return f"pinned to CPU {cpu}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200_000, help="calls per timed loop")
    parser.add_argument("--repeat", type=int, default=5, help="timed loops; the best counts")
    parser.add_argument("--layout", type=Layout, choices=list(Layout), default=Layout.LINUX_X86_64)
    parser.add_argument("--frame", type=Framing, choices=list(Framing), default=Framing.PAD_UNION)
    args = parser.parse_args(argv)
    if args.count < 1 or args.repeat < 1:
        parser.error("--count and --repeat must be at least 1")

    pinned = pin_to_one_core()
    print(
        f"machine: {cpu_model()}, nproc {os.cpu_count()} ({pinned}); "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    print(
        f"layout {args.layout.value}, framing {args.frame.value}; "
        f"best of {args.repeat} x {args.count:,} calls"
    )
    codec = FrameCodec(args.layout, args.frame)
    decoder = JsonDecoder(codec)
    header = f"{'record':<11} {'bytes':>6} {'encode/s':>12} {'decode/s':>12} {'JSON line/s':>12}"
    print(header)
    print("-" * len(header))
    rates: dict[str, tuple[float, float]] = {}
    for name, rec in SAMPLES:
        frame = codec.encode_record(rec, SERVER, WHEN)
        encode = best_rate(encode_loop(codec, rec), args.count, args.repeat)
        decode = best_rate(decode_loop(decoder, frame, text=False), args.count, args.repeat)
        line = best_rate(decode_loop(decoder, frame, text=True), args.count, args.repeat)
        rates[name] = (encode, decode)
        print(f"{name:<11} {len(frame):>6} {encode:>12,.0f} {decode:>12,.0f} {line:>12,.0f}")
    encode, decode = rates["SESSIONREC"]
    print(
        f"SESSIONREC aims: encode >= {ENCODE_AIM:,}/s {'met' if encode >= ENCODE_AIM else 'MISSED'}"
        f", decode >= {DECODE_AIM:,}/s {'met' if decode >= DECODE_AIM else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
