"""Pacing as NBILLSES: asleep until the first Wakeup, then awake for Runtime every Wakeup."""

from __future__ import annotations

import pytest

from simulator.addin.pacing import Unpaced, WakeupPacing
from simulator.scenario.notes_ini import NotesIniSettings


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def test_unpaced_is_always_awake() -> None:
    pacing = Unpaced()
    assert pacing.awake(0.0) and pacing.awake(1e9)
    assert pacing.next_change(0.0) is None


def test_asleep_until_the_first_wakeup_then_awake_for_runtime_every_wakeup() -> None:
    clock = FakeClock(1000.0)
    pacing = WakeupPacing(wakeup=60, runtime=10, started=clock.now)
    assert not pacing.awake(clock.now)
    assert pacing.next_change(clock.now) == 1060.0
    assert not pacing.awake(clock.advance(59.9))
    assert pacing.awake(clock.advance(0.1))  # 1060: the first wake-up
    assert pacing.next_change(clock.now) == 1070.0
    assert pacing.awake(clock.advance(9.9))
    assert not pacing.awake(clock.advance(0.1))  # 1070: Runtime is up
    assert pacing.next_change(clock.now) == 1120.0
    assert pacing.awake(clock.advance(50.0))  # 1120
    awake_seconds = sum(pacing.awake(1000.0 + t / 10) for t in range(0, 6000))
    assert awake_seconds == 9 * 100  # wake-ups at 60, 120, … 540 s, each 10 s


def test_the_awake_state_changes_only_where_next_change_says() -> None:
    pacing = WakeupPacing(wakeup=3, runtime=1, started=0.0)
    now = 0.0
    for _ in range(10):
        change = pacing.next_change(now)
        assert change is not None and change > now
        state = pacing.awake(now)
        assert pacing.awake(change - 1e-6) == state
        assert pacing.awake(change) != state
        now = change


def test_runtime_equal_to_wakeup_stays_awake_after_the_first_wakeup() -> None:
    pacing = WakeupPacing(wakeup=5, runtime=5, started=0.0)
    assert not pacing.awake(4.9)
    assert pacing.next_change(4.9) == 5.0
    assert pacing.awake(5.0) and pacing.awake(17.5)
    assert pacing.next_change(17.5) is None


def test_from_notes_ini_settings_and_their_defaults() -> None:
    pacing = WakeupPacing.from_settings(NotesIniSettings(), started=0.0)
    assert (pacing.wakeup, pacing.runtime) == (60, 10)
    settings = NotesIniSettings.model_validate({"BillingAddinWakeup": 4, "BillingAddinRuntime": 2})
    pacing = WakeupPacing.from_settings(settings, started=0.0)
    assert (pacing.wakeup, pacing.runtime) == (4, 2)


def test_runtime_above_wakeup_is_refused() -> None:
    with pytest.raises(ValueError, match="must not exceed"):
        WakeupPacing(wakeup=5, runtime=6, started=0.0)
    with pytest.raises(ValueError, match="positive"):
        WakeupPacing(wakeup=0, runtime=0, started=0.0)
