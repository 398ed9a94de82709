"""Floor benchmark: the least any Python engine does for a generated record, with no
domain rule at all, against what billsim's engine does.

Each record of the skeleton is one event of a heap of (time, priority, sequence,
user) entries, as the engine's: the event popped, three steps of the user's 64-bit
stream (the engine's generator), one SESSIONREC STAMP written by billsim's own
`BillingWriter.write_values` (class filter, header time stamp, the generated encoder,
the count by type, the hand-off into MQ$BILLING's deque), the user's next event pushed,
and the frames drained to a `NullSink` in batches. No session, database, mail, calendar
or ledger: what is left when every lifecycle and workload rule is taken out.

It prints records per CPU second on one core (best of N) for the skeleton, and for
the flat keys and typical-mail runs of `bench/engine.py`. A rate an issue asks of the
engine above the skeleton's cannot be had by tuning the rules: the interpreter spends
that time before any rule runs. Run by hand: `python bench/floor.py [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import itertools
import platform
import sys
import time
from collections import deque
from datetime import UTC, datetime
from math import log
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import _TYPICAL_MAIL, THROUGHPUT_SCENARIO, throughput

from simulator.adapters.sinks import NullSink
from simulator.commands.garbage import collect_garbage_seldom
from simulator.domino.billing import BillingWriter, SequencedFrame
from simulator.domino.streams import STATE_MASK, STEP_INCREMENT, STEP_MULTIPLIER
from simulator.wire import constants as c
from simulator.wire.codec import FrameCodec
from simulator.wire.records import SessionID, SessionRec

_TO_UNIT = 2.0**-53
_BATCH = 1000  # frames a drain takes at once, as the engine's sink drain does
_MEAN_GAP_US = 600_000_000  # ten minutes between a user's records


def skeleton(users: int, records: int) -> float:
    """Records a CPU second of the skeleton (module doc)."""
    pending: deque[SequencedFrame] = deque()
    start = datetime(2026, 11, 21, 9, tzinfo=UTC)
    writer = BillingWriter(
        FrameCodec(), "CN=Bench01/O=Acme", start, c.BILL_CLASS_SESSION, pending.append
    )
    sink = NullSink()
    names = [f"CN=User {user:05d}/O=Acme" for user in range(users)]
    addresses = [f"10.0.{user // 250}.{user % 250 + 1}" for user in range(users)]
    session_ids = [SessionID(user + 1, 1) for user in range(users)]
    states = [user * 7_919 + 1 for user in range(users)]
    counter = itertools.count(users)
    heap = [(user * 1_000, 0, user, user) for user in range(users)]
    heapq.heapify(heap)
    pop, push, write = heapq.heappop, heapq.heappush, writer.write_values
    multiplier, increment, mask = STEP_MULTIPLIER, STEP_INCREMENT, STATE_MASK
    stamp, session_class = c.BILL_SESSION_STAMP, c.BILL_CLASS_SESSION
    written = 0
    started = time.process_time()
    while written < records:
        at, _, _, user = pop(heap)
        state = (states[user] * multiplier + increment) & mask
        bytes_in = int((state >> 11) * _TO_UNIT * 65_536)
        state = (state * multiplier + increment) & mask
        bytes_out = int((state >> 11) * _TO_UNIT * 65_536)
        state = (state * multiplier + increment) & mask
        states[user] = state
        values = (session_ids[user], stamp, names[user], bytes_in, bytes_out, addresses[user])
        write(SessionRec, values, at, session_class, stamp)
        written += 1
        gap = int(-log(1.0 - (state >> 11) * _TO_UNIT) * _MEAN_GAP_US) or 1
        push(heap, (at + gap, 0, next(counter), user))
        if len(pending) >= _BATCH:
            sink.write_batch(list(pending))
            pending.clear()
    sink.write_batch(list(pending))
    seconds = time.process_time() - started
    assert sink.frames == records
    return records / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=4000, help="users in the skeleton's heap")
    parser.add_argument("--records", type=int, default=300_000, help="records a skeleton run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    parser.add_argument("--engine", action="store_true", help="also run bench/engine.py's runs")
    args = parser.parse_args()
    collect_garbage_seldom()  # as `billsim run` does
    print(f"billsim floor benchmark: Python {platform.python_version()}")
    rates = []
    for _ in range(args.repeat):
        gc.collect()
        rates.append(skeleton(args.users, args.records))
    print(
        f"skeleton, no domain rule (best of {args.repeat}): {max(rates):,.0f} records "
        f"a CPU second ({1e6 / max(rates):.2f} µs a record)"
    )
    if not args.engine:
        return
    runs = (
        ("flat keys", THROUGHPUT_SCENARIO, 5000, "3h"),
        ("typical-mail", _TYPICAL_MAIL, 4000, "1d"),
    )
    for label, text, users, duration in runs:
        best = 0.0
        for _ in range(args.repeat):
            gc.collect()
            frames, _, cpu, _ = throughput(text, users, duration)
            best = max(best, frames / cpu)
        print(
            f"{label} (best of {args.repeat}): {best:,.0f} records a CPU second "
            f"({1e6 / best:.2f} µs a record)"
        )


if __name__ == "__main__":
    main()
