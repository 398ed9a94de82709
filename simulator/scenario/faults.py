"""The scenario's `faults:` block and `--fault NAME=VALUE` (docs/faults.md): what to break, how.

The model only says what was asked for; `simulator.domino.faults` injects it. A `--fault`
value is read as YAML, as the block's values are, so `--fault 'crash={at: 2h}'` and
`faults: {crash: {at: 2h}}` mean the same, and it replaces the block's entry of that name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)

from simulator.errors import InputError
from simulator.scenario.durations import DurationUs, format_duration, parse_duration
from simulator.scenario.messages import error_message
from simulator.scenario.workload import Share
from simulator.scenario.yamlsource import load_yaml

# How much of its last records MQ$BILLING still holds when the server dies, when `crash`
# does not say: the billing add-in's default wake-up (BillingAddinWakeup, 60 s) drains it
# once a minute, so a crash finds up to a minute of records there.
DEFAULT_QUEUED_US = 60_000_000
# The zone `dst: true` labels times with when the workload's calendar names none.
DEFAULT_DST_ZONE = "Europe/Berlin"
FAULT_NAMES: tuple[str, ...] = (
    "duplicate",
    "reorder",
    "corrupt",
    "truncate",
    "crash",
    "clock_step",
    "dst",
    "wrap",
)


def _signed_duration(value: object) -> int:
    """A duration that may be negative (`-1h`, `-90`): a clock steps back as well as forward."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_duration(value.strip()[1:])
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return -parse_duration(-value)
    return parse_duration(value)


def _non_zero(us: int) -> int:
    if us == 0:
        raise ValueError("a clock step of 0 changes nothing: give a duration like -1h or 30m")
    return us


def _dst(value: object) -> bool | str:
    """`true`/`false`, or an IANA zone name."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        name = value.strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: `Europe`, a directory
            raise ValueError(
                f"expected true, false or an IANA time zone like Europe/Berlin, got {value!r}"
            ) from None
        return name
    raise ValueError(f"expected true, false or an IANA time zone like Europe/Berlin, got {value!r}")


SignedDurationUs = Annotated[int, BeforeValidator(_signed_duration), AfterValidator(_non_zero)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReorderFault(_Model):
    """A `share` of frames each held back and delivered after 1 to `window` later frames."""

    share: Share
    window: Annotated[int, Field(strict=True, ge=1, le=65_535)]


class CrashFault(_Model):
    """The server dies at `at`; it comes back `restart_after` later (never, within the run,
    when that is not given). `queued`: the last records MQ$BILLING still held, lost."""

    at: DurationUs
    restart_after: DurationUs | None = None
    queued: DurationUs = DEFAULT_QUEUED_US


class ClockStepFault(_Model):
    """The server's clock of day jumps by `by` (negative: back) at `at`."""

    at: DurationUs
    by: SignedDurationUs


class Faults(_Model):
    """The `faults:` block: every key optional; an empty block injects nothing."""

    duplicate: Share = 0.0
    reorder: ReorderFault | None = None
    corrupt: Share = 0.0
    truncate: Share = 0.0
    crash: CrashFault | None = None
    clock_step: ClockStepFault | None = None
    dst: Annotated[bool | str, PlainValidator(_dst)] = False
    wrap: bool = False

    @property
    def any(self) -> bool:
        """Whether the block asks for any fault at all."""
        return bool(
            self.duplicate
            or self.reorder is not None
            or self.corrupt
            or self.truncate
            or self.crash is not None
            or self.clock_step is not None
            or self.dst
            or self.wrap
        )

    @property
    def frame_faults(self) -> bool:
        """Whether frames are changed on their way to MQ$BILLING (duplicate, reorder, corrupt,
        truncate)."""
        return bool(
            self.duplicate or self.corrupt or self.truncate or (self.reorder and self.reorder.share)
        )

    def dst_zone(self, calendar_zone: str | None) -> str | None:
        """The zone the run's times are labelled with: `dst`'s own, else the workload
        calendar's, else DEFAULT_DST_ZONE; None when `dst` is off."""
        if self.dst is False:
            return None
        if isinstance(self.dst, str):
            return self.dst
        return calendar_zone or DEFAULT_DST_ZONE


# The block as a scenario field: a `faults:` key with nothing after it is no fault.
FaultsBlock = Annotated[Faults, BeforeValidator(lambda value: {} if value is None else value)]

Report = Callable[[Sequence[Any], str], None]


def check_faults(
    faults: Faults, start: datetime | None, duration: int | None, report: Report
) -> None:
    """What the block cannot know alone: its times against the run's `start` (None: not
    known, the clock step's `by` is not checked) and `duration`."""
    step = faults.clock_step
    if step is not None and start is not None:
        _check_step_range(step, start, duration, report)
    if duration is None:
        return
    for name, fault in (("crash", faults.crash), ("clock_step", faults.clock_step)):
        if fault is not None and fault.at >= duration:
            report(
                ("faults", name, "at"),
                f"{format_duration(fault.at)} is not before the end of the run "
                f"(duration {format_duration(duration)})",
            )


def _check_step_range(
    step: ClockStepFault, start: datetime, duration: int | None, report: Report
) -> None:
    # A TimeStamp outside the years 1 to 9999 has no datetime: `check`, `decode` and the
    # add-in could not read the run back (a step of 99999999d reads as a step back).
    last = step.at if duration is None or step.by < 0 else max(step.at, duration)
    try:
        unstepped = start + timedelta(microseconds=last)
    except OverflowError:
        return  # the run's own end is out of range: reported as such
    try:
        unstepped + timedelta(microseconds=step.by)
    except OverflowError:
        after = "after the year 9999" if step.by > 0 else "before the year 1"
        report(
            ("faults", "clock_step", "by"),
            f"{_signed(step.by)} would put the server's clock {after}",
        )


def _signed(us: int) -> str:
    return f"-{format_duration(-us)}" if us < 0 else format_duration(us)


# What a `--fault` of each mapping-valued fault looks like, for an error about its form.
_EXAMPLES = {
    "reorder": "'reorder={share: 0.01, window: 50}'",
    "crash": "'crash={at: 2h, restart_after: 5m}'",
    "clock_step": "'clock_step={at: 3h, by: -1h}'",
}


def parse_fault_option(text: str) -> tuple[str, Any]:
    """`--fault NAME=VALUE` as (name, the fault's value checked as the block's); VALUE is
    read as YAML. InputError (field `--fault NAME`) says what is wrong."""
    name, equals, value_text = text.partition("=")
    name = name.strip()
    if not equals or not name:
        raise InputError(
            "expected NAME=VALUE, like duplicate=0.001 or 'crash={at: 2h, restart_after: 5m}',"
            f" got {text!r}",
            field="--fault",
        )
    field = f"--fault {name}"
    if name not in FAULT_NAMES:
        raise InputError(f"unknown fault (one of {', '.join(FAULT_NAMES)})", field=field)
    try:
        value = load_yaml(value_text, field)
    except InputError as error:
        raise InputError(error.message, field=field) from None
    try:
        checked = Faults.model_validate({name: value})
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:])
        message = error_message(first)
        if not where and name in _EXAMPLES:
            message = f"{message}, like {_EXAMPLES[name]}"
        raise InputError(message, field=f"{field}{'.' + where if where else ''}") from None
    return name, getattr(checked, name)


def with_overrides(faults: Faults, overrides: Sequence[tuple[str, Any]]) -> Faults:
    """The block with each `--fault` (name, checked value) put in place of its entry."""
    return faults.model_copy(update=dict(overrides))
