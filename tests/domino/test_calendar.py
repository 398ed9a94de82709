"""The working calendar: local days through DST, and arrivals that follow the curve."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from simulator.domino.calendar import Calendar, WorkingDays
from simulator.domino.streams import chance, stream_key
from simulator.scenario.workload import CalendarSpec, Workload

HOUR = 3600 * 1_000_000
START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday, 07:00 in Berlin


def berlin(curve: list[list[object]] | None = None) -> Calendar:
    raw: dict[str, object] = {"timezone": "Europe/Berlin"}
    if curve is not None:
        raw["curve"] = curve
    return Calendar(CalendarSpec.model_validate(raw), START)


def test_local_times_map_to_virtual_time_through_the_zone() -> None:
    calendar = berlin()
    assert calendar.at(0, 7 * HOUR) == 0  # 07:00 CET is the start
    assert calendar.day_start(0) == -7 * HOUR
    assert calendar.day_start(1) == 17 * HOUR
    assert calendar.day_of(0) == 0 and calendar.day_of(17 * HOUR) == 1
    assert [calendar.is_working_day(d) for d in range(7)] == [True] * 5 + [False] * 2


def test_a_dst_day_keeps_its_wall_clock_times() -> None:
    # 2027-03-28 is the spring-forward Sunday in Berlin: 23 hours long.
    calendar = Calendar(
        CalendarSpec.model_validate({"timezone": "Europe/Berlin"}),
        datetime(2027, 3, 27, 23, 0, tzinfo=UTC),  # Sunday 00:00 CET
    )
    assert calendar.day_start(1) - calendar.day_start(0) == 23 * HOUR
    assert calendar.at(0, 8 * HOUR) - calendar.day_start(0) == 7 * HOUR


def test_arrivals_follow_the_curve_hour_by_hour() -> None:
    calendar = berlin(
        [
            ["08:00", 0.3],
            ["09:00", 1.0],
            ["12:00", 0.6],
            ["13:00", 1.0],
            ["17:00", 0.4],
            ["18:00", 0],
        ]
    )
    draws = random.Random(3)
    hours = [0] * 24
    count = 200_000
    for _ in range(count):
        hours[calendar.arrival_clock(draws.random()) // HOUR] += 1
    for hour in range(24):
        expected = calendar.share_between(hour * HOUR, (hour + 1) * HOUR) * count
        if expected == 0:
            assert hours[hour] == 0
        else:
            assert hours[hour] == pytest.approx(expected, rel=0.03)
    assert calendar.share_between(0, 24 * HOUR) == pytest.approx(1.0)


def test_no_arrival_where_the_curve_is_zero() -> None:
    calendar = berlin(
        [["08:00", 1], ["10:00", 1], ["10:00", 0], ["14:00", 0], ["14:00", 1], ["16:00", 1]]
    )
    for step in range(1000):
        clock = calendar.arrival_clock(step / 1000)
        assert 8 * HOUR <= clock < 10 * HOUR or 14 * HOUR <= clock < 16 * HOUR


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        # A folder of the zone database: ZoneInfo raised IsADirectoryError (the fuzzer).
        ({"timezone": "Europe"}, "unknown time zone 'Europe'"),
        ({"days": ["mon", "funday"]}, "day of the week"),
        ({"curve": [["08:00", 1]]}, "at least two"),
        ({"curve": [["09:00", 1], ["08:00", 1]]}, "must rise"),
        ({"curve": [["08:00", 0], ["09:00", 0]]}, "rate above 0"),
        ({"curve": [["25:00", 1], ["26:00", 1]]}, "not a time of day"),
    ],
)
def test_bad_calendars_say_what_is_wrong(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CalendarSpec.model_validate(raw)


def working_days(
    raw: dict[str, object], *, seed: int = 7, duration: int = 30 * 24 * HOUR
) -> WorkingDays:
    return WorkingDays(Workload.model_validate(raw), START, seed=seed, duration=duration)


def test_working_days_know_each_days_start_kind_and_length() -> None:
    days = working_days(
        {"users": 10, "calendar": {"timezone": "Europe/Berlin", "days": ["mon", "sun"]}},
        duration=200 * 24 * HOUR,
    )
    # (virtual start, a working day, 24 hours long): START is Monday 07:00 in Berlin.
    assert days.day(0) == (-7 * HOUR, True, True)
    assert days.day(1) == (17 * HOUR, False, True)
    assert days.day(6)[1] is True  # Sunday
    # 2027-03-28, the spring-forward Sunday, 125 days on: a working day 23 hours long.
    start, working, plain = days.day(125)
    assert (working, plain) == (True, False)
    assert days.day(126)[0] - start == 23 * HOUR
    assert days.arrival(125, 0.5) == days.calendar.arrival(125, 0.5)
    assert days.arrival(0, 0.5) == days.calendar.arrival(0, 0.5)


def test_the_one_rule_of_who_is_active_is_the_users_draw_for_the_day() -> None:
    days = working_days({"users": 500, "active": 0.3}, seed=11)
    key = stream_key(11, "active")
    answers = [[days.is_active(user, day) for day in range(5)] for user in range(500)]
    assert answers == [[chance(key, user, day) < 0.3 for day in range(5)] for user in range(500)]
    assert 0.25 < sum(map(sum, answers)) / 2500 < 0.35
    # next_active_day asks the same question, from the day after the one given.
    for user in range(50):
        following = next(day for day in range(1, 99) if chance(key, user, day) < 0.3)
        assert days.next_active_day(user, 0) == following
    assert days.any_active and not days.everyone_active


def test_nobody_or_everybody_is_active_without_a_draw() -> None:
    assert working_days({"users": 5}).everyone_active
    assert not working_days({"users": 5, "active": 0}).any_active
    assert not working_days({"users": 5, "calendar": {"days": []}}).any_active  # no working day
    # Past the run's end there is no next active day.
    assert working_days({"users": 5}, duration=HOUR).next_active_day(0, 0) == -1
