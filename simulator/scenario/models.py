"""The scenario's pydantic models (docs/scenario.md): databases, users, types, workload, actions.

Fields are declared with the value rules of `simulator.scenario.values`; the checks that
need more than one part of the file are `simulator.scenario.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from simulator.scenario.durations import DurationUs, RunLength
from simulator.scenario.faults import Faults, FaultsBlock
from simulator.scenario.names import common_name
from simulator.scenario.notes_ini import IniEntry, NotesIniSettings, resolve_settings
from simulator.scenario.rate import RatePlan, RateStage
from simulator.scenario.values import (
    BillingClassBit,
    Charge,
    Count,
    CTypeName,
    Dword,
    FormName,
    Ident,
    Name,
    NetAddress,
    NonEmptyText,
    NoteId,
    PositiveDuration,
    Rate,
    RawMapping,
    Recipient,
    ReplicaId,
    ServerName,
    SpeedText,
    Text,
    UtcTime,
)
from simulator.scenario.yamlsource import line_of
from simulator.wire import constants as c
from simulator.wire.layout import Field as CField
from simulator.wire.layout import parse_ctype
from simulator.wire.records import RecordKind, custom_kind
from simulator.wire.timedate import TimeDate, parse_timedate_id

if TYPE_CHECKING:
    from typing_extensions import TypeIs


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
    """Opening a directory writes no DBREC (docs/lifecycles.md)."""
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
    bill_class: BillingClassBit = Field(alias="class")
    fields: Annotated[list[tuple[Ident, CTypeName]], Field(min_length=1)]

    @property
    def ctypes(self) -> tuple[CField, ...]:
        return tuple((name, parse_ctype(ctype)) for name, ctype in self.fields)


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
    # The keys of constants.MAIL_REPORT (DELIVERY_REPORT_*; a test keeps them alike).
    report: Literal[
        "none", "basic", "confirm", "trace", "trace-no-deliver", "confirm-no-deliver"
    ] = "none"
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

# Every action is an instance of one of ACTION_MODELS' classes, none of them subclassed,
# so a kind of action is told by its class: the models' metaclass is an ABCMeta, whose
# isinstance of a class an action is not of is a Python call, and a script of 30,000
# actions is looked at so four times over (loader, checks, dry run).
SESSION_ACTIONS: frozenset[type[ActionBase]] = frozenset(
    model for model in ACTION_MODELS.values() if issubclass(model, SessionActionBase)
)


def is_session_action(action: ActionBase) -> TypeIs[SessionAction]:
    """`isinstance(action, SessionActionBase)`, by the action's class (SESSION_ACTIONS)."""
    return type(action) in SESSION_ACTIONS


# --- the scenario ---------------------------------------------------------------------------------


class Stage(_Model):
    """One stage of `stages:`: its `rate` is reached linearly over `for` (wall time) from
    the previous stage's; a stage of rate 0 is a pause (see RateSchedule)."""

    rate: Rate
    for_: DurationUs = Field(alias="for")


class Scenario(_Model):
    """A loaded scenario. Times (`at`, `duration`, …) are int microseconds from `start`."""

    name: NonEmptyText
    description: Text = ""
    seed: Count = 0
    start: UtcTime
    duration: RunLength  # None: forever (until the run is stopped)
    speed: SpeedText | None = None  # None: the CLI decides (realtime on MQTT)
    stages: list[Stage] = []  # rate shaping; excludes `speed`
    server: ServerName
    server_address: NonEmptyText = "127.0.0.1"
    notes_ini: NotesIniSettings = NotesIniSettings()
    stamp_policy: Literal["timer", "activity"] = "timer"
    idle_timeout: PositiveDuration | None = None
    databases: dict[str, Database] = {}
    users: dict[str, User] = {}
    script: list[Action] = []
    # As written; `parse_workload` (checked at load) gives the model. Empty: no workload.
    workload: RawMapping = {}
    custom_types: dict[Ident, CustomType] = {}
    faults: FaultsBlock = Faults()  # docs/faults.md

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
    def end(self) -> datetime | None:
        """When the run ends in virtual time; None when it runs forever."""
        if self.duration is None:
            return None
        return self.start + timedelta(microseconds=self.duration)

    @property
    def start_offset(self) -> timedelta:
        """The UTC offset `start` was written with (`Z`: none), for showing times as the
        file writes them; `start` itself is kept in UTC."""
        written = self._doc.get("start") if isinstance(self._doc, Mapping) else None
        if isinstance(written, str):
            try:
                written = datetime.fromisoformat(written.strip())
            except ValueError:
                return timedelta(0)
        if isinstance(written, datetime):
            return written.utcoffset() or timedelta(0)
        return timedelta(0)

    @property
    def rate_plan(self) -> RatePlan | None:
        """The `stages:` as the engine's rate plan; None: the run is paced by speed."""
        if not self.stages:
            return None
        return RatePlan(tuple(RateStage(stage.rate, stage.for_ / 1e6) for stage in self.stages))

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
