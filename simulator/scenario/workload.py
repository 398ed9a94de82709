"""The `workload:` block's models (docs/workload.md): a generated population and its server's day.

The flat keys of the first version (`users`, `arrival`, `session_length`, `think_time`,
`mix`, `bytes_in`, `bytes_out`, `name`, `address`, `relogin`, `databases` as a list)
keep their meaning. Beside them: `preset`, `active`, `calendar`, `session`, the
databases block, `mail`, `replication`, `agents`, `http` and `servers`. A key left out
is off (no mail, no replication …) unless a preset sets it. Times are µs, sizes bytes.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
)

from simulator.errors import quoted
from simulator.scenario.distributions import (
    Constant,
    CountDistribution,
    Distribution,
    DurationDistribution,
    Exponential,
    LogNormal,
    RankDistribution,
    SizeDistribution,
    ZipfExponent,
    poisson,
)
from simulator.scenario.durations import DurationUs, parse_duration
from simulator.scenario.names import common_name
from simulator.scenario.values import (
    Count,
    Name,
    NonEmptyText,
    PositiveDuration,
    ServerName,
    Weight,
)

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKLOAD_ACTIONS = ("open", "read", "write", "edit", "transfer", "close")
HTTP_KINDS = ("view", "open", "save", "search", "agent", "static")
PRESETS = ("typical-mail", "app-server", "web")


class _Model(BaseModel):
    # Built at their first validation, not at import: most scenarios have no workload,
    # and building these schemas was a tenth of `billsim validate`'s imports.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")


def parse_clock(value: object) -> int:
    """`08:30` as µs after local midnight; `24:00` is the day's end. YAML 1.1 reads an
    unquoted 08:30 as the sexagesimal number 510 (minutes): taken as that time too."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 24 * 60:
        return value * 60 * US_PER_SECOND
    if not isinstance(value, str) or (match := _CLOCK.match(value.strip())) is None:
        raise ValueError(f"expected a time of day like 08:30, got {quoted(value)}")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{quoted(value)} is not a time of day (00:00 to 24:00)")
    return (hours * 60 + minutes) * 60 * US_PER_SECOND


ClockUs = Annotated[int, BeforeValidator(parse_clock)]


def _window(value: object) -> tuple[int, int]:
    if isinstance(value, str) and "-" in value:
        first, _, last = value.partition("-")
        opens, closes = parse_clock(first), parse_clock(last)
        if closes <= opens:
            raise ValueError(f"a window closes after it opens, got {quoted(value)}")
        return opens, closes
    raise ValueError(f"expected a window like 08:00-22:00, got {quoted(value)}")


WindowUs = Annotated[tuple[int, int], BeforeValidator(_window)]


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: `Europe`, a directory
        raise ValueError(
            f"unknown time zone {quoted(name)} (an IANA name like Europe/Berlin)"
        ) from None
    return name


def _weekday(value: str) -> str:
    day = value.strip().lower()[:3]
    if day not in WEEKDAYS:
        raise ValueError(f"expected a day of the week ({', '.join(WEEKDAYS)}), got {quoted(value)}")
    return day


def _curve(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(points) < 2:
        raise ValueError("a curve needs at least two [time, rate] points")
    times = [at for at, _ in points]
    # Two points at one time make a step; a third there would say nothing.
    if times != sorted(times) or any(times.count(at) > 2 for at in times):
        raise ValueError("the curve's times must rise from one point to the next")
    if not any(
        (rate + next_rate) * (next_at - at) > 0
        for (at, rate), (next_at, next_rate) in pairwise(points)
    ):
        raise ValueError("the curve needs a rate above 0 between two of its points")
    return points


class CalendarSpec(_Model):
    """When users arrive: on `days`, in the local time of `timezone`, at a rate that follows
    `curve` — points [time of day, relative rate], linear between points, 0 before the
    first point and after the last. The calendar repeats for as long as the run lasts."""

    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    days: list[Annotated[str, AfterValidator(_weekday)]] = list(WEEKDAYS[:5])
    curve: Annotated[
        list[tuple[ClockUs, Annotated[float, Field(ge=0, allow_inf_nan=False)]]],
        AfterValidator(_curve),
    ] = [(8 * 3600 * US_PER_SECOND, 1.0), (18 * 3600 * US_PER_SECOND, 1.0)]


class SessionSpec(_Model):
    """A session's length (drawn at sign-on), and the server's idle timeout for it."""

    length: DurationDistribution = Exponential(30 * 60 * US_PER_SECOND)
    idle_timeout: DurationUs | None = None


def _database_path(template: str) -> str:
    """A generated database's path: `{n}` its rank, nothing else."""
    try:
        template.format(n=1)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
        raise ValueError(f"bad template: {quoted(error)} (it takes {{n}}, the rank)") from None
    return template


def _mail_file_path(template: str) -> str:
    """A mail file's path: `{n}` the user's number, `{user}` its name's `mail_file_key`."""
    try:
        template.format(n=1, user=1)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"bad template {quoted(template)}: {quoted(error)}") from None
    return template


class DatabasesSpec(_Model):
    """Generated databases: `count` of them, picked by `popularity` (a rank distribution,
    rank 1 the most popular); `mail_file` gives each user a mail file of its own that
    its sessions open first, and `mail_share` of their database actions go to it;
    `charged` is the share of document reads and writes that touch a charged document
    (`documents` of them per database)."""

    count: Annotated[int, Field(strict=True, ge=1, le=100_000)] = 1
    path: Annotated[str, AfterValidator(_database_path)] = "apps/app{n:04d}.nsf"
    popularity: RankDistribution = ZipfExponent(1.0)
    mail_file: Annotated[str, AfterValidator(_mail_file_path)] | None = None
    mail_share: Share = 0.5
    charged: Share = 0.0
    documents: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 20
    charge_read: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.05
    charge_write: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.25

    def path_of(self, n: int) -> str:
        """The path of generated database number `n` (from 1): the one reading of `path`."""
        return self.path.format(n=n)


class MailSpec(_Model):
    """Mail an active user sends in a working day: about `per_day` messages (a Poisson
    count), each to `recipients` users (at least one) of `size` bytes; a share
    `external` leaves through `external_hop`, the rest is delivered on this server."""

    per_day: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]
    recipients: CountDistribution = poisson(2.0)
    size: SizeDistribution = Constant(10_240)
    external: Share = 0.0
    external_hop: ServerName = "CN=Relay01/O=Acme"
    form: str = "Memo"


Direction = Literal["pull", "push", "pull-push", "pull-pull"]


class ReplicationSpec(_Model):
    """A connection document: replicate with `with` every `every` inside `window` (local
    time) on `days`, `databases` of them per run, each moving `bytes` in (and `bytes_out`
    out). Without `with`, a domain's first server replicates with each of the others."""

    with_: ServerName | None = Field(default=None, alias="with")
    every: PositiveDuration
    window: WindowUs = (0, US_PER_DAY)
    days: Annotated[list[Annotated[str, AfterValidator(_weekday)]], Field(min_length=1)] = list(
        WEEKDAYS
    )
    databases: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 1
    bytes: SizeDistribution = Constant(100_000)
    bytes_out: SizeDistribution | None = None
    direction: Direction = "pull-push"
    duration: DurationDistribution = Constant(60 * US_PER_SECOND)
    priority: Literal["low", "medium", "high"] = "medium"

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class AgentSpec(_Model):
    """A scheduled agent: first at `at` (local time; else at the start of the run), then
    every `every` (a distribution: `{uniform: [30m, 60m]}` varies it), running `elapsed`."""

    db: str
    agent: NonEmptyText
    at: ClockUs | None = None
    every: DurationDistribution = Constant(US_PER_DAY)
    elapsed: DurationDistribution = Constant(US_PER_SECOND)
    signer: Name | None = None
    task: NonEmptyText = "AMgr"


class HttpSpec(_Model):
    """Web visits: a share `share` of the users visit the web server `visits_per_day`
    times a working day (at times from the calendar), each visit `per_visit` requests
    apart by `think`; `anonymous` of the visits sign in as nobody. `mix` weighs the kinds
    of request, `status` the HTTP status codes."""

    share: Share
    visits_per_day: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] = 1.0
    per_visit: CountDistribution = Constant(12)
    think: DurationDistribution = Exponential(10 * US_PER_SECOND)
    anonymous: Share = 0.0
    mix: dict[str, Weight] = {kind: 1.0 for kind in HTTP_KINDS}
    status: dict[int, Weight] = {200: 1.0}
    bytes: SizeDistribution = LogNormal(8 * 1024, 1.0)
    time: DurationDistribution = LogNormal(40_000, 0.8)
    user_agent: str = "Mozilla/5.0"


def _flat_or_distribution(value: object) -> Any:
    """A bare duration (`think_time: 60s`) keeps its first meaning, the mean of an
    exponential; a mapping names the distribution."""
    if isinstance(value, dict) or not isinstance(value, int | float | str):
        return value
    mean = parse_duration(value)
    if mean <= 0:
        raise ValueError("must be > 0")
    return Exponential(float(mean))


ThinkTime = Annotated[DurationDistribution, BeforeValidator(_flat_or_distribution)]

# The two forms of `databases`, told apart by the value's type, so that an error names
# only the form written. Their tags are parts of an error's location that the loader
# leaves out of the field it names.
_PATHS_TAG, _BLOCK_TAG = "<paths>", "<block>"
UNION_TAGS = frozenset({_PATHS_TAG, _BLOCK_TAG})


def _databases_form(value: object) -> str:
    return _PATHS_TAG if isinstance(value, list) else _BLOCK_TAG


WorkloadDatabases = Annotated[
    Annotated[list[str], Tag(_PATHS_TAG)] | Annotated[DatabasesSpec, Tag(_BLOCK_TAG)],
    Discriminator(_databases_form),
]


class Workload(_Model):
    """The scenario's `workload:` block (`users` required unless a preset gives it).

    `name` and `address` are str.format templates: `{n}` is the user's number (1..users),
    and the address may also use `{a}`, `{b}`, `{c}`, the bytes of n from the top.
    """

    preset: Literal["typical-mail", "app-server", "web"] | None = None
    users: Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
    name: str = "CN=User {n}/O=Acme"
    address: str = "10.{a}.{b}.{c}"
    # Without a calendar: users arrive evenly over `arrival` from the start, and sign on
    # again after each session while `relogin` holds.
    arrival: DurationUs = 0
    relogin: bool = True
    active: Share = 1.0
    calendar: CalendarSpec | None = None
    session_length: PositiveDuration = 30 * 60 * US_PER_SECOND
    session: SessionSpec | None = None
    think_time: ThinkTime = Exponential(60 * US_PER_SECOND)
    # A list of declared databases (first meaning), or the generated databases' block.
    databases: WorkloadDatabases | None = None
    mix: dict[str, Weight] = {
        "read": 5,
        "edit": 2,
        "write": 1,
        "transfer": 2,
        "open": 1,
        "close": 1,
    }
    bytes_in: Count = 1_000
    bytes_out: Count = 4_000
    mail: MailSpec | None = None
    replication: list[ReplicationSpec] = []
    agents: list[AgentSpec] = []
    http: HttpSpec | None = None
    servers: Annotated[int, Field(strict=True, ge=1, le=64)] = 1

    @property
    def session_lengths(self) -> Distribution:
        """The session length distribution: `session.length` if given, else exponential
        `session_length`."""
        if self.session is not None and "length" in self.session.model_fields_set:
            return self.session.length
        return Exponential(float(self.session_length))

    @property
    def declared_databases(self) -> list[str] | None:
        return self.databases if isinstance(self.databases, list) else None

    @property
    def generated_databases(self) -> DatabasesSpec | None:
        return self.databases if isinstance(self.databases, DatabasesSpec) else None

    def name_of(self, n: int) -> str:
        """The name of user number `n` (from 1)."""
        return self.name.format(n=n)

    def mail_file_of(self, n: int, name: str | None = None) -> str | None:
        """User number `n`'s mail file (None without `databases.mail_file`): `{n}` the
        number, `{user}` the common name of its `name` in lower case without spaces."""
        spec = self.generated_databases
        if spec is None or spec.mail_file is None:
            return None
        return mail_file_path(spec.mail_file, n, name or self.name_of(n))

    def address_of(self, n: int) -> str:
        """The address of user number `n` (from 1)."""
        return self.address.format(n=n, a=(n >> 16) & 255, b=(n >> 8) & 255, c=n & 255)


def mail_file_path(template: str, n: int, name: str) -> str:
    """The `mail_file` template for user number `n` named `name`: the one reading of it."""
    return template.format(n=n, user=mail_file_key(name))


def mail_file_key(name: str) -> str:
    """`{user}` of a mail file template: the common name, lower case, without spaces."""
    return common_name(name).lower().replace(" ", "")
