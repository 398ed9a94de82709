"""The add-in's tally is repr-ed when asyncio.run ends (Python 3.11 words a ValueError
about its SIGINT handler, which holds the main task and so `serve`'s result): that
repr must not grow with the frames committed."""

from __future__ import annotations

from simulator.commands.addin import Tally


def test_a_tally_repr_leaves_the_latencies_out() -> None:
    tally = Tally(["sqlite:///billing.db"])
    tally.latencies_us.extend(range(100_000))
    assert len(repr(tally)) < 1_000
    assert "sqlite:///billing.db" in repr(tally)
