"""The scenario file (DESIGN §7): models, load-time checks, and errors at `file:line: field`."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Container, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from simulator.errors import InputError
from simulator.scenario.durations import DurationUs, format_duration
from simulator.scenario.names import (
    common_name,
    domino_name,
    net_address,
    no_nul,
    non_empty,
    server_name,
)
from simulator.scenario.notes_ini import (
    BILLING_CLASS_BITS,
    IniEntry,
    NotesIniSettings,
    entries_from_mapping,
    resolve_settings,
)
from simulator.scenario.speed import Speed
from simulator.scenario.yamlsource import LinedDict, LinedList, line_of, load_yaml, read_yaml
from simulator.wire import constants as c
from simulator.wire.cnames import field_name_problem, type_name_problem
from simulator.wire.codec import frame_geometry, utf8_len
from simulator.wire.layout import CType, Layout, compile_fields, parse_ctype
from simulator.wire.layout import Field as CField
from simulator.wire.records import (
    AGENTREC,
    HTTPREQREC,
    MAILREC,
    Oid,
    RecordKind,
    Unid,
    custom_kind,
)
from simulator.wire.timedate import TimeDate, parse_timedate_id, timedate_from_datetime

DWORD_MAX = 0xFFFF_FFFF
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPLICA_ID = re.compile(r"^[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8}$")
_UNID = re.compile(r"^[0-9A-Fa-f]{32}$")
# Common-log time stamp, e.g. `21/Nov/2026:09:00:00 +0000`: its length never varies.
_HTTP_TIMESTAMP_LEN = 26


class ScenarioError(InputError):
    """Every problem found in a scenario, one `file:line: field: message` per line.

    Its own file, line and field are those of the first problem.
    """

    def __init__(self, errors: Sequence[InputError]) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)
        self.errors: tuple[InputError, ...] = tuple(errors)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


# --- value rules ---------------------------------------------------------------------------


def _max_bytes(limit: int, what: str) -> AfterValidator:
    def check(text: str) -> str:
        size = utf8_len(text)
        if size > limit:
            raise ValueError(f"{what} is {size} bytes of UTF-8, longer than {limit}")
        return text

    return AfterValidator(check)


def _recipient(text: str) -> str:
    # MAILREC packs recipients into one comma-separated string.
    if "," in text:
        raise ValueError("a recipient name must not contain a comma")
    return text


def _replica_id(text: str) -> str:
    if not _REPLICA_ID.match(text):
        raise ValueError(f"expected a replica ID like 85258A3B:0052C1F0, got {text!r}")
    return text.upper()


def _uint(value: object, bits: int, what: str) -> int:
    """An unsigned integer: a YAML int, or its text in decimal or 0x hex."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise ValueError(f"expected a {what}, got {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"expected a {what}, got {value!r}")
    top = (1 << bits) - 1
    if not 0 <= number <= top:
        raise ValueError(f"{what} {value!r} out of range 0..{top}")
    return number


def _note_id(value: object) -> int:
    return _uint(value, 32, "note ID")


def _aware_utc(value: object) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"expected an ISO-8601 time like 2026-11-21T09:00:00Z, got {value!r}"
            ) from None
    if not isinstance(value, datetime):
        raise ValueError(f"expected an ISO-8601 time like 2026-11-21T09:00:00Z, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"needs a zone (Z or +hh:mm): {value.isoformat()}")
    return value.astimezone(UTC)


def _speed(value: str) -> str:
    # The one parser of a speed, shared with `--speed` and the MQTT `speed` command: a
    # scenario that validates must also run.
    Speed.parse(value)
    return value.strip().lower()


def _one_class(value: object) -> int:
    if not isinstance(value, str):
        raise ValueError(f"expected a billing class name, got {value!r}")
    bit = BILLING_CLASS_BITS.get(re.sub(r"\s+", "", value).lower())
    if bit is None:
        raise ValueError(
            f"unknown billing class {value!r} (one of {', '.join(BILLING_CLASS_BITS)})"
        )
    return bit


def _ctype_name(text: str) -> str:
    return parse_ctype(text).name


def _ident(text: str) -> str:
    if not _IDENT.match(text):
        raise ValueError(f"expected a C identifier, got {text!r}")
    return text


def _none_is_empty(value: object) -> object:
    return {} if value is None else value


Text = Annotated[str, AfterValidator(no_nul)]
NonEmptyText = Annotated[str, AfterValidator(no_nul), AfterValidator(non_empty)]
Name = Annotated[str, AfterValidator(domino_name)]
Recipient = Annotated[str, AfterValidator(domino_name), AfterValidator(_recipient)]
NetAddress = Annotated[str, AfterValidator(net_address)]
FormName = Annotated[NonEmptyText, _max_bytes(c.DESIGN_NAME_MAX - 1, "form name")]
Ident = Annotated[str, AfterValidator(_ident)]
Count = Annotated[int, Field(strict=True, ge=0)]
Dword = Annotated[int, Field(strict=True, ge=0, le=DWORD_MAX)]
Charge = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
NoteId = Annotated[int, BeforeValidator(_note_id)]
ReplicaId = Annotated[str, AfterValidator(_replica_id)]
UtcTime = Annotated[datetime, BeforeValidator(_aware_utc)]
SpeedText = Annotated[str, AfterValidator(_speed)]
PositiveDuration = Annotated[DurationUs, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- databases, users, custom types ------------------------------------------------------------


class DocumentCharges(_Model):
    charge_read: Charge = 0.0
    charge_write: Charge = 0.0


class Database(_Model):
    """A declared database; `replica_id` may be left out only for a directory (path ending `/`)."""

    replica_id: ReplicaId | None = None
    documents: dict[NoteId, DocumentCharges] = {}

    @property
    def replica(self) -> TimeDate:
        if self.replica_id is None:
            raise ValueError("a directory has no replica ID")
        return parse_timedate_id(self.replica_id)


def is_directory(path: str) -> bool:
    """Opening a directory writes no DBREC (DESIGN §4)."""
    return path.endswith("/")


class User(_Model):
    name: Name
    address: NetAddress


class CustomType(_Model):
    """A BILLMNGR-style record type; `fields` as written, `ctypes` as the codec wants them."""

    struct_type: Annotated[
        int,
        Field(strict=True, ge=c.CUSTOM_STRUCT_TYPE_MIN, le=c.CUSTOM_STRUCT_TYPE_MAX),
    ]
    bill_class: Annotated[int, BeforeValidator(_one_class)] = Field(alias="class")
    fields: Annotated[
        list[tuple[Ident, Annotated[str, AfterValidator(_ctype_name)]]], Field(min_length=1)
    ]

    @property
    def ctypes(self) -> tuple[CField, ...]:
        return tuple((name, parse_ctype(ctype)) for name, ctype in self.fields)


# --- the generated workload ---------------------------------------------------------------------

WORKLOAD_ACTIONS = ("open", "read", "write", "edit", "transfer", "close")
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Workload(_Model):
    """The scenario's `workload:` block (all keys optional but `users`); times in µs.

    `name` and `address` are str.format templates: `{n}` is the user's number (1..users),
    and the address may also use `{a}`, `{b}`, `{c}`, the bytes of n from the top.
    """

    users: Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
    name: str = "CN=User {n}/O=Acme"
    address: str = "10.{a}.{b}.{c}"
    arrival: DurationUs = 0
    session_length: PositiveDuration = 30 * 60_000_000
    think_time: PositiveDuration = 60_000_000
    relogin: bool = True
    databases: list[str] | None = None
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

    def name_of(self, n: int) -> str:
        """The name of user number `n` (from 1)."""
        return self.name.format(n=n)

    def address_of(self, n: int) -> str:
        """The address of user number `n` (from 1)."""
        return self.address.format(n=n, a=(n >> 16) & 255, b=(n >> 8) & 255, c=n & 255)


def _longest_candidates(users: int) -> list[int]:
    """User numbers among which the longest name and address of users 1..`users` are.

    Assuming a larger number never formats shorter, the longest is at `users` or at the
    largest number below it whose lower bytes are all 0xFF (each of {a}, {b}, {c} at its
    highest under a smaller byte above it).
    """
    candidates = {users}
    for bits in (8, 16, 24):
        below = ((users >> bits) << bits) - 1
        if below >= 1:
            candidates.add(below)
    return sorted(candidates)


def parse_workload(
    raw: Mapping[str, Any], databases: Container[str], filename: str, doc: Any = None
) -> Workload:
    """A `workload:` block checked in full; raises ScenarioError naming `workload.<key>`.

    `doc` is the parsed scenario file, for line numbers.
    """
    problems = _Problems(doc, filename)
    workload = _workload(raw, databases, problems)
    problems.raise_if_any()
    assert workload is not None
    return workload


def _workload(
    raw: Mapping[str, Any], databases: Container[str], problems: _Problems
) -> Workload | None:
    where = ("workload",)
    try:
        workload = Workload.model_validate(raw)
    except ValidationError as exc:
        problems.add_validation(exc, where)
        return None
    for key in workload.mix:
        if key not in WORKLOAD_ACTIONS:
            problems.add(
                (*where, "mix", key),
                f"unknown action {key!r} (one of {', '.join(WORKLOAD_ACTIONS)})",
            )
    if not any(workload.mix.values()):
        problems.add((*where, "mix"), "at least one action needs a weight above 0")
    for position, path in enumerate(workload.databases or ()):
        _check_db_name(problems, (*where, "databases", position), path, databases)
    renders = (
        ("name", workload.name_of, domino_name),
        ("address", workload.address_of, net_address),
    )
    for key, render, check in renders:
        for n in _longest_candidates(workload.users):
            try:
                text = render(n)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
                problems.add((*where, key), f"bad template: {error!r}")
                break
            try:
                check(text)
            except ValueError as error:
                problems.add((*where, key), f"for user {n}: {error}")
                break
    return workload


# --- script actions -------------------------------------------------------------------------------


class ActionBase(_Model):
    """What every script action has: its time from `start`, and where the file wrote it."""

    at: DurationUs
    # Set by the loader, never by the file: where to point the engine's own errors.
    line: int = 0
    index: int = 0


class SessionActionBase(ActionBase):
    """An action of a user's session; `user` is a key of `users`."""

    user: str
    bytes_in: Count = 0
    bytes_out: Count = 0


class OpenAction(SessionActionBase):
    action: Literal["open"]
    db: str


class CloseAction(SessionActionBase):
    action: Literal["close"]
    db: str


class ReadAction(SessionActionBase):
    action: Literal["read"]
    db: str
    note_id: NoteId | None = None


class WriteAction(SessionActionBase):
    action: Literal["write"]
    db: str
    note_id: NoteId | None = None


class EditAction(SessionActionBase):
    action: Literal["edit"]
    db: str


class TransferAction(SessionActionBase):
    action: Literal["transfer"]


class LogoutAction(SessionActionBase):
    action: Literal["logout"]


class MailAction(ActionBase):
    action: Literal["mail"]
    from_: Name = Field(alias="from")
    to: Annotated[list[Recipient], Field(min_length=1)]
    size: Dword = 0
    form: FormName = "Memo"
    priority: Literal["low", "normal", "high"] = "normal"
    report: Literal["none", "basic", "confirm", "trace"] = "none"
    routing_state: Literal["pending", "dead", "hold"] = "pending"
    next_hop: Name | None = None  # None: delivered locally, HopName = this server
    delay: DurationUs = 0


class ReplicatedDatabase(_Model):
    db: str
    bytes_in: Dword = 0
    bytes_out: Dword = 0


class ReplicateAction(ActionBase):
    action: Literal["replicate"]
    with_: Name = Field(alias="with")
    direction: Literal["pull", "push", "pull-push", "pull-pull"] = "pull-push"
    priority: Literal["low", "medium", "high"] = "medium"
    duration: DurationUs = 0
    databases: Annotated[list[ReplicatedDatabase], Field(min_length=1)]


class AgentAction(ActionBase):
    action: Literal["agent"]
    db: str
    agent: NonEmptyText
    signer: Name
    task: NonEmptyText = "AMgr"
    elapsed: DurationUs = 0
    flags: list[Literal["warnings", "mail", "public"]] = []

    @property
    def flag_bits(self) -> int:
        bits = 0
        for flag in self.flags:
            bits |= c.AGENT_FLAGS[flag]
        return bits


class HttpAction(ActionBase):
    action: Literal["http"]
    user: Name | None = None  # None: an anonymous request, no AuthUser
    address: NonEmptyText
    request: NonEmptyText
    status: Annotated[int, Field(strict=True, ge=100, le=999)] = 200
    bytes: Dword = 0
    time_ms: Dword = 0
    user_agent: Text | None = None
    content_type: Text | None = None
    referer: Text | None = None


class CustomAction(ActionBase):
    """`values` come out of loading in the type's field order, as the codec's Python values."""

    action: Literal["custom"]
    type: str
    values: dict[str, Any]


SessionAction = (
    OpenAction | CloseAction | ReadAction | WriteAction | EditAction | TransferAction | LogoutAction
)
TaskAction = MailAction | ReplicateAction | AgentAction | HttpAction | CustomAction
Action = Annotated[SessionAction | TaskAction, Field(discriminator="action")]

ACTION_MODELS: dict[str, type[ActionBase]] = {
    "open": OpenAction,
    "close": CloseAction,
    "read": ReadAction,
    "write": WriteAction,
    "edit": EditAction,
    "transfer": TransferAction,
    "logout": LogoutAction,
    "mail": MailAction,
    "replicate": ReplicateAction,
    "agent": AgentAction,
    "http": HttpAction,
    "custom": CustomAction,
}
SESSION_ACTIONS: frozenset[str] = frozenset(
    ("open", "close", "read", "write", "edit", "transfer", "logout")
)
_DB_ACTIONS = frozenset(("open", "close", "read", "write", "edit"))


# --- the scenario ---------------------------------------------------------------------------------


class Scenario(_Model):
    """A loaded scenario. Times (`at`, `duration`, …) are int microseconds from `start`."""

    name: NonEmptyText
    description: Text = ""
    seed: Count = 0
    start: UtcTime
    duration: PositiveDuration
    speed: SpeedText | None = None  # None: the CLI decides (realtime on MQTT)
    server: Annotated[Name, AfterValidator(server_name)]
    server_address: NonEmptyText = "127.0.0.1"
    notes_ini: NotesIniSettings = NotesIniSettings()
    stamp_policy: Literal["timer", "activity"] = "timer"
    idle_timeout: PositiveDuration | None = None
    databases: dict[str, Database] = {}
    users: dict[str, User] = {}
    script: list[Action] = []
    # As written; `parse_workload` (checked at load) gives the model. Empty: no workload.
    workload: Annotated[dict[str, Any], BeforeValidator(_none_is_empty)] = {}
    custom_types: dict[Ident, CustomType] = {}

    _filename: str = PrivateAttr(default="<scenario>")
    _doc: Any = PrivateAttr(default=None)
    _ini_entries: dict[str, IniEntry] = PrivateAttr(default_factory=dict)

    @property
    def filename(self) -> str:
        return self._filename

    @property
    def common_name(self) -> str:
        return common_name(self.server)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(microseconds=self.duration)

    def resolve_name(self, value: str) -> str:
        """A key of `users` means that user's full name; anything else is a full name."""
        user = self.users.get(value)
        return value if user is None else user.name

    def line_of(self, *path: Any) -> int | None:
        """The file line of a path in the scenario (`"script", 3, "user"`), for later errors."""
        return line_of(self._doc, path)

    def timeline(self) -> list[Action]:
        """The script in the order it runs: by time, then file order."""
        return sorted(self.script, key=lambda action: (action.at, action.index))

    def settings_with(self, *ini_files: Mapping[str, IniEntry]) -> NotesIniSettings:
        """The scenario's `notes_ini:` block overridden by notes.ini files (`read_notes_ini`)."""
        return resolve_settings(self._ini_entries, *ini_files)

    def custom_kinds(self) -> tuple[RecordKind, ...]:
        """The declared custom types, for the codec."""
        return tuple(
            custom_kind(name, t.struct_type, t.bill_class, t.ctypes)
            for name, t in self.custom_types.items()
        )


# --- loading ----------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises InputError: a ScenarioError listing every problem found once the YAML parses.
    """
    return _build(read_yaml(path), str(path))


def load_scenario_text(text: str, filename: str = "<scenario>") -> Scenario:
    return _build(load_yaml(text, filename), filename)


_MESSAGES: dict[str, str] = {
    "missing": "required field missing",
    "extra_forbidden": "unknown field",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx["error"])
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "greater_than_equal":
        return f"must be ≥ {_bound(ctx['ge'])}"
    if kind == "greater_than":
        return f"must be > {_bound(ctx['gt'])}"
    if kind == "less_than_equal":
        return f"must be ≤ {_bound(ctx['le'])}"
    if kind == "literal_error":
        return f"must be {ctx['expected']}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    return str(error["msg"])


def _bound(value: Any) -> Any:
    # A float field's bound reads as the scenario's author would write it: 0, not 0.0.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def render_path(path: Sequence[Any]) -> str:
    """How errors name a field: `script[3].bytes_in`, `databases[a/b.nsf].documents[0x2306]`."""
    out = ""
    parent: Any = None
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part:#x}]" if parent == "documents" else f"[{part}]"
        elif isinstance(part, str) and _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
        parent = part
    return out


class _Problems:
    """Collects errors against one parsed file, so a run of `validate` reports them all."""

    def __init__(self, doc: Any, filename: str) -> None:
        self.doc = doc
        self.filename = filename
        self.errors: list[InputError] = []

    def add(self, path: Sequence[Any], message: str) -> None:
        self.errors.append(
            InputError(
                message,
                file=self.filename,
                line=line_of(self.doc, path),
                field=render_path(path) or None,
            )
        )

    def add_validation(self, exc: ValidationError, prefix: Sequence[Any] = ()) -> None:
        for error in exc.errors():
            loc = [part for part in error["loc"] if part != "[key]"]
            self.add([*prefix, *loc], _message(error))

    def raise_if_any(self) -> None:
        if self.errors:
            unique = {str(error): error for error in self.errors}
            raise ScenarioError(sorted(unique.values(), key=lambda e: e.line or 0))


def _build(doc: Any, filename: str) -> Scenario:
    problems = _Problems(doc, filename)
    if not isinstance(doc, LinedDict):
        problems.add((), "a scenario is a YAML mapping (name:, start:, duration:, …)")
        problems.raise_if_any()
    data = dict(doc)

    ini_entries: dict[str, IniEntry] = {}
    settings = NotesIniSettings()
    block = data.pop("notes_ini", None)
    if isinstance(block, LinedDict):
        try:
            ini_entries = entries_from_mapping(block, file=filename, lines=block.lines)
            settings = resolve_settings(ini_entries)
        except InputError as exc:
            problems.errors.append(exc)
    elif block is not None:
        problems.add(("notes_ini",), "must be a mapping of notes.ini settings")
    data["notes_ini"] = settings

    script = data.pop("script", None)
    data["script"] = _script(script, problems) if script is not None else []

    scenario: Scenario | None = None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems.add_validation(exc)
    problems.raise_if_any()
    assert scenario is not None

    scenario = _check(scenario, problems)
    problems.raise_if_any()
    scenario._filename = filename
    scenario._doc = doc
    scenario._ini_entries = ini_entries
    return scenario


def _script(items: Any, problems: _Problems) -> list[ActionBase]:
    if not isinstance(items, LinedList):
        problems.add(("script",), "must be a list of actions")
        return []
    actions: list[ActionBase] = []
    for index, item in enumerate(items):
        path = ("script", index)
        if not isinstance(item, LinedDict):
            problems.add(path, "an action is a mapping (at:, action:, …)")
            continue
        name = item.get("action")
        model = ACTION_MODELS.get(name) if isinstance(name, str) else None
        if model is None:
            known = ", ".join(ACTION_MODELS)
            problems.add(
                (*path, "action"),
                "required field missing" if name is None else f"unknown action {name!r} ({known})",
            )
            continue
        for reserved in ("line", "index"):
            if reserved in item:
                problems.add((*path, reserved), "unknown field")
        try:
            actions.append(
                model.model_validate({**item, "line": items.lines[index], "index": index})
            )
        except ValidationError as exc:
            problems.add_validation(exc, path)
    return actions


def _check(scenario: Scenario, problems: _Problems) -> Scenario:
    """The checks that need more than one part of the file; returns custom values converted."""
    try:
        scenario.end  # noqa: B018 - computing it is the check
    except OverflowError:
        problems.add(("duration",), "the run would end after the year 9999")

    for db_path, database in scenario.databases.items():
        if database.replica_id is None and not is_directory(db_path):
            problems.add(("databases", db_path, "replica_id"), "required field missing")

    struct_types: dict[int, str] = {}
    for type_name, custom in scenario.custom_types.items():
        where = ("custom_types", type_name)
        other = struct_types.setdefault(custom.struct_type, type_name)
        if other != type_name:
            problems.add((*where, "struct_type"), f"struct type also used by {other}")
        size = _frame_size(custom.ctypes, 0)
        if size > c.MQ_MAX_MSGSIZE:
            problems.add(where, f"a frame would be {size} bytes, over {c.MQ_MAX_MSGSIZE}")
        _check_c_names(scenario, problems, type_name, custom)

    if scenario.workload:
        _workload(scenario.workload, scenario.databases, problems)

    script: list[Action] = []
    for index, action in enumerate(scenario.script):
        path = ("script", index)
        if action.at >= scenario.duration:
            problems.add(
                (*path, "at"),
                f"{format_duration(action.at)} is not before the end of the run "
                f"(duration {format_duration(scenario.duration)})",
            )
        if action.action in SESSION_ACTIONS:
            assert isinstance(action, SessionActionBase)
            if action.user not in scenario.users:
                problems.add((*path, "user"), f"unknown user {action.user!r} (not a key of users)")
            if action.action in _DB_ACTIONS:
                _check_db(scenario, problems, (*path, "db"), getattr(action, "db", ""))
        elif isinstance(action, ReplicateAction):
            for position, replicated in enumerate(action.databases):
                _check_db(scenario, problems, (*path, "databases", position, "db"), replicated.db)
        elif isinstance(action, AgentAction):
            _check_db(scenario, problems, (*path, "db"), action.db)
            strings = (scenario.resolve_name(action.signer), action.task, action.db)
            _check_size(problems, path, AGENTREC.fields, sum(map(utf8_len, strings)))
        elif isinstance(action, MailAction):
            recipients = [scenario.resolve_name(name) for name in action.to]
            for position, name in enumerate(recipients):
                if "," in name:
                    problems.add(
                        (*path, "to", position), "a recipient name must not contain a comma"
                    )
            joined = utf8_len(",".join(recipients))
            _check_size(problems, path, MAILREC.fields, joined)
        elif isinstance(action, HttpAction):
            present = [
                action.user and scenario.resolve_name(action.user),
                action.address,
                action.referer,
                scenario.server_address,
                action.user_agent,
                action.request,
                action.content_type,
            ]
            variable = _HTTP_TIMESTAMP_LEN + 1 + sum(utf8_len(s) + 1 for s in present if s)
            _check_size(problems, path, HTTPREQREC.fields, variable)
        elif isinstance(action, CustomAction):
            script.append(_check_custom(scenario, problems, path, action))
            continue
        script.append(action)
    return scenario.model_copy(update={"script": script})


def _check_c_names(
    scenario: Scenario, problems: _Problems, type_name: str, custom: CustomType
) -> None:
    """Names `billsim header` can declare in C: no keyword, clash or repeated field."""
    where = ("custom_types", type_name)
    problem = type_name_problem(type_name)
    if problem is not None:
        problems.add(where, f"not usable as a C type name: {problem}")
    seen: set[str] = set()
    for position, (field_name, _ctype) in enumerate(custom.fields):
        path = (*where, "fields", position)
        if field_name in seen:
            problems.add(path, f"field {field_name} is declared twice")
        seen.add(field_name)
        problem = field_name_problem(field_name, scenario.custom_types)
        if problem is not None:
            problems.add(path, f"not usable as a C field name: {problem}")


def _check_db(scenario: Scenario, problems: _Problems, path: Sequence[Any], db: str) -> None:
    _check_db_name(problems, path, db, scenario.databases)


def _check_db_name(
    problems: _Problems, path: Sequence[Any], db: str, databases: Container[str]
) -> None:
    if db not in databases:
        problems.add(path, f"database {db!r} is not declared in databases")


def _frame_size(fields: tuple[CField, ...], variable: int) -> int:
    """The largest frame a record makes under any layout (pad-union only pads up to 1000)."""
    return _fixed_frame_size(fields) + variable


@functools.cache
def _fixed_frame_size(fields: tuple[CField, ...]) -> int:
    # Scripts repeat a few record kinds many times: lay each out once.
    return max(
        frame_geometry(layout).rec_offset + compile_fields(fields, layout).size for layout in Layout
    )


def _check_size(
    problems: _Problems, path: Sequence[Any], fields: tuple[CField, ...], variable: int
) -> None:
    size = _frame_size(fields, variable)
    if size > c.MQ_MAX_MSGSIZE:
        problems.add(path, f"its record would make a {size}-byte frame, over {c.MQ_MAX_MSGSIZE}")


# --- custom values ----------------------------------------------------------------------------


class _CustomValueError(ValueError):
    def __init__(self, message: str, *subpath: str) -> None:
        super().__init__(message)
        self.subpath = subpath


def _check_custom(
    scenario: Scenario, problems: _Problems, path: Sequence[Any], action: CustomAction
) -> CustomAction:
    custom = scenario.custom_types.get(action.type)
    if custom is None:
        problems.add((*path, "type"), f"unknown custom type {action.type!r} (not in custom_types)")
        return action
    fields = dict(custom.ctypes)
    for name in action.values:
        if name not in fields:
            problems.add((*path, "values", name), f"unknown field of {action.type}")
    converted: dict[str, Any] = {}
    for name, ctype in fields.items():
        if name not in action.values:
            problems.add((*path, "values"), f"missing field {name} of {action.type}")
            continue
        try:
            converted[name] = _custom_value(ctype, action.values[name])
        except _CustomValueError as exc:
            problems.add((*path, "values", name, *exc.subpath), str(exc))
    return action.model_copy(update={"values": converted})


def _custom_value(ctype: CType, value: Any) -> Any:
    """A custom field's scenario value as the codec's Python value for its C type."""
    kind = ctype.kind
    try:
        if kind == "int":
            return _uint(value, 8 * ctype.size, ctype.name)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"expected a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"must be a finite number, got {value!r}")
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"expected text, got {value!r}")
            no_nul(value)
            size = utf8_len(value)
            if size >= ctype.size:
                raise ValueError(
                    f"{size} bytes of UTF-8 do not fit {ctype.name} (at most {ctype.size - 1})"
                )
            return value
        if kind == "time":
            return _timedate(value)
        if kind == "id":
            return _dbid(value, ctype.name)
        if kind == "unid":
            if not isinstance(value, str) or not _UNID.match(value):
                raise ValueError(f"expected a UNID of 32 hex digits, got {value!r}")
            words = [int(value[i : i + 8], 16) for i in range(0, 32, 8)]
            return Unid(TimeDate(words[1], words[0]), TimeDate(words[3], words[2]))
    except _CustomValueError:
        raise
    except ValueError as exc:
        raise _CustomValueError(str(exc)) from None
    assert kind == "oid", kind
    return _oid(value)


def _timedate(value: Any) -> TimeDate:
    # Either a time, or the id form the JSON form uses for TIMEDATEs that carry a zone.
    if isinstance(value, str) and _REPLICA_ID.match(value.strip()):
        return parse_timedate_id(value.strip())
    return timedate_from_datetime(_aware_utc(value))


def _dbid(value: Any, what: str) -> TimeDate:
    if not isinstance(value, str) or not _REPLICA_ID.match(value.strip()):
        raise ValueError(f"expected a {what} like 85258A3B:0052C1F0, got {value!r}")
    return parse_timedate_id(value.strip())


_OID_KEYS = ("File", "Note", "Sequence", "SequenceTime")


def _oid(value: Any) -> Oid:
    if not isinstance(value, Mapping):
        raise _CustomValueError("expected an OID mapping {File, Note, Sequence, SequenceTime}")
    for key in value:
        if key not in _OID_KEYS:
            raise _CustomValueError("unknown field of an OID", str(key))
    parts: list[Any] = []
    for key in _OID_KEYS:
        if key not in value:
            raise _CustomValueError(f"missing field {key} of an OID")
        try:
            if key in ("File", "Note"):
                parts.append(_dbid(value[key], "DBID"))
            elif key == "Sequence":
                parts.append(_uint(value[key], 32, "DWORD"))
            else:
                parts.append(_timedate(value[key]))
        except ValueError as exc:
            raise _CustomValueError(str(exc), key) from None
    return Oid(parts[0], parts[1], parts[2], parts[3])
