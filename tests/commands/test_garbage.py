"""A long-running command's garbage collector: seldom, and frozen only when asked."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from simulator.commands.garbage import collect_garbage_seldom


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_the_youngest_generation_is_collected_every_50000_allocations() -> None:
    older = gc.get_threshold()[1:]
    collect_garbage_seldom()
    assert gc.get_threshold() == (50_000, *older)


def test_what_is_alive_is_frozen_only_when_asked() -> None:
    gc.unfreeze()
    collect_garbage_seldom()
    assert gc.get_freeze_count() == 0
    collect_garbage_seldom(freeze=True)
    assert gc.get_freeze_count() > 0
