"""One fixed stream through the whole add-in (a real mosquitto, `serve`, SQLite and
PostgreSQL at once) stores exactly the rows of tests/golden/addin-replay.json.

The golden file was written by the add-in before its per-read path (one call a socket
read through consumer, intake and batcher, times written once a batch): any change to
how the add-in reads, batches or stores must leave every row as it was. The stream has
what an add-in meets: every record kind, a declared and an undeclared custom type, two
servers, binary and JSON payloads (declared, and undeclared JSON), `--topic-meta`
topics with and without properties, redeliveries, a seq that is no number (property and
topic level), frames that do not decode, a Len that is not the payload's, a TimeStamp
that names no time, frames without `sent` or without run and seq, a status message. The
add-in's clock is fixed, so `received_at` and the latencies are too. The stream waits
in the session's backlog first, so that the add-in reads many messages a socket read.

    BILLSIM_WRITE_GOLDEN=1 pytest tests/commands/test_addin_replay.py   # rewrite it
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from broker_processes import MosquittoBroker
from gmqtt import Client
from paths import GOLDEN_TRACES
from samples import FRAMES, JDN, SERVER, SERVER_CN
from test_addin import wait_until

from simulator.adapters.mqtt import gmqtt_glue as glue
from simulator.adapters.stores import open_store, read_rows
from simulator.addin.intake import Intake
from simulator.commands import addin as addin_command
from simulator.commands.addin import AddinRequest, serve
from simulator.errors import InputError
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.jsonform import JsonDecoder, dumps_frame
from simulator.wire.layout import DBID, DWORD, char
from simulator.wire.records import CustomRec, Frame, custom_kind
from simulator.wire.timedate import TimeDate

pytestmark = pytest.mark.broker

GOLDEN = GOLDEN_TRACES / "addin-replay.json"
NOW_US = 1_795_000_100_000_000  # the add-in's clock, fixed
SENT_US = NOW_US - 5_000_000
OTHER_CN = "Hub01"
BINARY = "application/x-domino-billmsg"
JSON_TYPE = "application/json"
NOTECREATE = custom_kind(
    "NOTECREATEREC",
    32001,
    c.BILL_CLASS_DATABASE,
    (("Username", char(257)), ("dbNoteID", DWORD), ("ReplicaID", DBID)),
)
UNDECLARED = custom_kind("OTHER", 32002, c.BILL_CLASS_DATABASE, (("n", DWORD),))
CODEC = FrameCodec(custom_kinds=[NOTECREATE])
STAMP_0 = TimeDate(3_330_000, JDN)
NO_TIME = TimeDate(0xFFFFFFFF, 0xFFFFFFFF)


def _frames() -> list[bytes]:
    """Each kind at several times: ten frames of one tick apart, a second apart, a day."""
    out = []
    kinds = list(FRAMES.values())
    for i in range(60):
        frame = kinds[i % len(kinds)]
        ticks = 3_330_000 + (i // 3) * 100 + (i % 3)  # three frames share most times
        stamp = TimeDate(ticks, JDN + i // 40)
        out.append(CODEC.encode(frame._replace(TimeStamp=stamp)))
    custom = CustomRec(("CN=Alice Smith/O=Acme", 0x20FA, TimeDate(0x0052C1F1, 0x85258A3B)))
    out.append(
        CODEC.encode(Frame(NOTECREATE.struct_type, c.BILL_CLASS_DATABASE, SERVER, STAMP_0, custom))
    )
    undeclared = FrameCodec(custom_kinds=[UNDECLARED])
    out.append(
        undeclared.encode(Frame(32002, c.BILL_CLASS_DATABASE, SERVER, STAMP_0, CustomRec((7,))))
    )
    return out


def _stream() -> list[tuple[str, bytes, str | None, list[tuple[str, str]]]]:
    """(topic, payload, content type, user properties) of every message, in order."""
    frames = _frames()
    to_json = JsonDecoder(CODEC)
    plain = f"domino/billing/{SERVER_CN}"
    out: list[tuple[str, bytes, str | None, list[tuple[str, str]]]] = []

    def props(seq: int | str, run: str = "run-1", sent: int | None = None) -> list[tuple[str, str]]:
        found = [("run", run), ("seq", str(seq))]
        return found if sent is None else [*found, ("sent", str(sent))]

    def topic_of(frame: bytes, cn: str = SERVER_CN) -> str:
        struct_type = int.from_bytes(frame[2:4], "little")
        if struct_type >= c.CUSTOM_STRUCT_TYPE_MIN:
            return f"domino/billing/{cn}/custom/{struct_type}"
        return f"domino/billing/{cn}/{c.CLASS_TOPIC_NAME[frame[4] | frame[5] << 8]}"

    for seq, frame in enumerate(frames, 1):
        i = seq - 1
        sent = SENT_US + i * 1_000 if i % 7 else None  # every seventh without `sent`
        if i % 5 == 1:
            payload = dumps_frame(to_json(frame, 0, seq)).encode()
            kind = JSON_TYPE if i % 10 == 1 else None  # undeclared: read as JSON all the same
            out.append((topic_of(frame), payload, kind, props(seq, sent=sent)))
        elif i % 5 == 2:
            # --topic-meta, the properties in the topic only (as under MQTT 3.1.1).
            out.append((f"{topic_of(frame)}/run-1/{seq}", frame, BINARY, []))
        elif i % 5 == 3:
            # --topic-meta with the properties as well: the properties win.
            topic = f"{topic_of(frame, OTHER_CN)}/run-2/{seq}"
            out.append((topic, frame, BINARY, props(seq, "run-2", sent)))
        else:
            out.append((topic_of(frame), frame, BINARY, props(seq, sent=sent)))
        if i % 9 == 4:
            out.append(out[-1])  # a redelivery
    session = frames[0]
    no_time = CODEC.encode(FRAMES["SESSIONREC"]._replace(TimeStamp=NO_TIME))
    out += [
        (f"{plain}/session", session, BINARY, props("x12", sent=SENT_US)),
        (f"{plain}/session/run-1/x13", session, BINARY, []),
        (f"{plain}/session/run-1/0", session, BINARY, []),
        (f"{plain}/session", b"garbage, not a frame", BINARY, props(1001, sent=SENT_US)),
        (f"{plain}/session", session + b"\0", BINARY, props(1002, sent=SENT_US)),
        (f"{plain}/session", b'{"Len": 3}', JSON_TYPE, props(1003)),
        (f"{plain}/session", b"{not json}", JSON_TYPE, props(1004)),
        (f"{plain}/session", no_time, BINARY, props(1005)),
        (f"{plain}/session", session, BINARY, [("run", "run-1"), ("sent", "12x")]),
        (f"{plain}/session", session, BINARY, props(1006, sent=SENT_US)),
        (f"{plain}/session", session, BINARY, []),  # neither run nor seq: kept, every time
        (f"{plain}/session", session, BINARY, []),
        (f"{plain}/status", b"online", None, []),
        (f"{plain}/session/too/many/levels", session, BINARY, props(1007)),
        (f"{plain}/session", session, BINARY, props(1006, sent=SENT_US)),  # redelivered
    ]
    return out


def _rows_in(url: str) -> int:
    """Rows in every table of a SQLite store (0 before it has any)."""
    try:
        return sum(map(len, read_rows(url, CODEC).values()))
    except (InputError, sqlite3.Error):
        return 0


def _dump(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each table's rows as JSON values, in an order of their own: MQTT keeps the order
    of one topic's messages, not across topics (under load, mosquitto sent the second
    server's messages after the first's)."""

    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, bytes | memoryview):
            return bytes(v).hex()
        return v

    dumped = {
        table: [{k: value(v) for k, v in row.items()} for row in got] for table, got in rows.items()
    }
    return {
        table: sorted(got, key=lambda row: json.dumps(row, sort_keys=True))
        for table, got in dumped.items()
    }


async def test_a_stream_stores_the_rows_it_always_stored(
    mosquitto: MosquittoBroker,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(addin_command, "_wall_us", lambda: NOW_US)
    stream = _stream()
    urls = [f"sqlite:///{tmp_path / 'billing.db'}", postgres_url]
    intake = Intake(CODEC.layout, [NOTECREATE])
    # The session first (its subscription), then the stream into its backlog.
    request = AddinRequest(broker=mosquitto.url, group="replay", until_idle=0.3)
    await serve(request, list, intake=intake, stderr=open(os.devnull, "w"))  # noqa: SIM115
    publisher: Any = Client("replay-publisher")
    await asyncio.wait_for(publisher.connect(mosquitto.host, mosquitto.port), 10)
    for n, (topic, payload, content_type, user) in enumerate(stream):
        if n % 10 == 0:  # within the broker's in-flight window
            await wait_until(lambda: glue.packet_ids_in_use(publisher) == 0)
        extra: dict[str, Any] = {"content_type": content_type} if content_type else {}
        if user:
            extra["user_property"] = user
        publisher.publish(topic, payload, qos=1, **extra)
    await wait_until(lambda: glue.packet_ids_in_use(publisher) == 0)
    await publisher.disconnect()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            AddinRequest(broker=mosquitto.url, group="replay"),
            lambda: [open_store(url, intake.rows) for url in urls],
            intake=intake,
            stderr=open(os.devnull, "w"),  # noqa: SIM115
            stop=stop,
        )
    )
    # Every message that makes a row (the golden file says how many) committed, in SQLite
    # and so in PostgreSQL too: each batch is committed to both before the next.
    expected = sum(map(len, json.loads(GOLDEN.read_text())["sqlite"].values()))
    await wait_until(lambda: _rows_in(urls[0]) >= expected, 60)
    stop.set()
    tally = await task
    summary = tally.summary(0.0)
    got = {
        "summary": {
            key: summary[key]
            for key in (
                "committed",
                "frames",
                "stored",
                "duplicates",
                "rejects",
                "without_seq",
                "latency_ms",
            )
        },
        "sqlite": _dump(read_rows(urls[0], CODEC)),
        "postgresql": _dump(read_rows(urls[1], CODEC)),
    }
    if os.environ.get("BILLSIM_WRITE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got == want
