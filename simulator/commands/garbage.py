"""How a long-running command's process collects garbage: seldom."""

from __future__ import annotations

import gc
from typing import Final

# Objects made between two collections of the youngest generation; Python's default is 700.
_GC_THRESHOLD: Final = 50_000


def collect_garbage_seldom(*, freeze: bool = False) -> None:
    """Tune this process's garbage collector for a stream of records or frames: each makes
    a dozen short-lived objects, freed by reference counting, and the default threshold
    ran a collection every hundred or so (measured: 10% of the add-in's CPU on a backlog;
    2% of the engine's instructions a record on the flat keys' stream). Cyclic garbage
    waits at most a threshold's worth of allocations, so memory stays flat.

    `freeze`: what is alive now (modules, tables, compiled readers) is also moved out of
    the collections to come, for a process that does nothing else from here on (the
    add-in). `run` leaves it: the threshold alone was the whole of its gain, and a
    process that runs scenario after scenario (a test run) would keep forever any cyclic
    garbage not yet collected."""
    if freeze:
        gc.freeze()
    gc.set_threshold(_GC_THRESHOLD, *gc.get_threshold()[1:])
