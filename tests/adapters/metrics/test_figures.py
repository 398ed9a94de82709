"""A server's figures in 64-bit slots (simulator/adapters/metrics/figures.py), as a
domain's child process posts them and its parent reads them back."""

from __future__ import annotations

import multiprocessing
from array import array

from simulator.adapters.metrics.figures import DrainFigures, FiguresLayout, ServerFigures
from simulator.adapters.metrics.histogram import LATENCY_BOUNDS_US, Histogram

CLASSES = ("session", "database", "mail", "custom/32001")


def figures(server: str, records: dict[str, int], *, drain: bool = True) -> ServerFigures:
    latency = Histogram(LATENCY_BOUNDS_US, 1_000_000)
    latency.observe_many(array("q", [300, 1_200, 7_000_000, 20_000_000]))
    return ServerFigures(
        server=server,
        records=records,
        queue_depth=17,
        dropped=3,
        virtual_time=1_795_251_600.25,
        drain=DrainFigures(
            published=40, delivered=38, resent=2, refused=1, in_flight=1, ack_latency=latency.fold()
        )
        if drain
        else None,
    )


def test_figures_read_back_as_they_were_posted() -> None:
    layout = FiguresLayout(CLASSES)
    slots = array("q", bytes(8 * layout.slots_for(3)))
    mail01 = figures("Mail01", {"session": 30, "custom/32001": 10})
    mail02 = figures("Mail02", {"mail": 5}, drain=False)
    layout.write(slots, 0, mail01)
    layout.write(slots, 2, mail02)
    assert layout.read(slots, 0, "Mail01") == mail01
    assert layout.read(slots, 2, "Mail02") == mail02
    assert layout.read(slots, 1, "Mail03") is None  # not posted yet


def test_a_later_post_replaces_the_earlier_and_a_class_outside_the_layout_is_left_out() -> None:
    layout = FiguresLayout(CLASSES)
    slots = array("q", bytes(8 * layout.slots_for(1)))
    layout.write(slots, 0, figures("Mail01", {"session": 1}))
    layout.write(slots, 0, figures("Mail01", {"session": 2, "agent": 9}))
    read = layout.read(slots, 0, "Mail01")
    assert read is not None
    assert read.records == {"session": 2}


def test_shared_slots_carry_figures_between_processes() -> None:
    layout = FiguresLayout(CLASSES)
    context = multiprocessing.get_context("spawn")
    slots = context.RawArray("q", layout.slots_for(2))
    posted = figures("Mail02", {"database": 12})
    child = context.Process(target=layout.write, args=(slots, 1, posted))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert layout.read(slots, 1, "Mail02") == posted
