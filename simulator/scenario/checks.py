"""The load-time checks that need more than one part of a scenario: references, sizes, C names.

Each check reports a problem as the path of the field it is about and a message; the
loader (`simulator.scenario.loader`) turns them into `file:line: field` errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from simulator.errors import quoted
from simulator.scenario.distributions import Exponential, LogNormal
from simulator.scenario.durations import format_duration
from simulator.scenario.faults import check_faults
from simulator.scenario.models import (
    SESSION_ACTIONS,
    Action,
    ActionBase,
    AgentAction,
    CloseAction,
    CustomAction,
    CustomType,
    Database,
    EditAction,
    HttpAction,
    MailAction,
    OpenAction,
    ReadAction,
    ReplicateAction,
    Scenario,
    WriteAction,
    is_directory,
    is_session_action,
)
from simulator.scenario.names import domino_name, net_address
from simulator.scenario.values import CustomValueError, custom_value
from simulator.scenario.workload import HTTP_KINDS, WORKLOAD_ACTIONS, DatabasesSpec, Workload
from simulator.wire import constants as c
from simulator.wire.cnames import field_name_problem, type_name_problem
from simulator.wire.codec import frame_geometry, utf8_len
from simulator.wire.layout import Field as CField
from simulator.wire.layout import Layout, compile_fields
from simulator.wire.records import AGENTREC, HTTPREQREC, MAILREC

# Common-log time stamp, e.g. `21/Nov/2026:09:00:00 +0000`: its length never varies.
_HTTP_TIMESTAMP_LEN = 26
# By class, as `is_session_action` (models.py): the actions that name a database, and those
# that may name a charged document.
_DB_ACTIONS = frozenset({OpenAction, CloseAction, ReadAction, WriteAction, EditAction})
_NOTE_ACTIONS = frozenset({ReadAction, WriteAction})

Report = Callable[[Sequence[Any], str], None]
"""Where a check sends a problem: the path of the field (`"script", 3, "db"`) and a message."""


@dataclass(frozen=True)
class LeftOut:
    """What a scenario's model was built without, having failed validation: top-level
    `fields` (left at their defaults, or stand-ins when required), and the keys of the
    entries of `users`, `databases` and `custom_types`.

    The checks say nothing that follows from their absence: an action naming a user whose
    entry was invalid is no "unknown user", and a run's end is not checked against a
    stand-in start. Their own problems are reported by the validation.
    """

    fields: frozenset[str] = frozenset()
    users: frozenset[Any] = frozenset()
    databases: frozenset[Any] = frozenset()
    custom_types: frozenset[Any] = frozenset()

    def declared(self, part: str, valid: Container[Any]) -> Container[Any]:
        """What counts as declared in `part` (`"users"`, …): the valid keys and those left
        out; anything, when the whole of `part` was invalid."""
        if part in self.fields:
            return _ANY
        left_out: frozenset[Any] = getattr(self, part)
        if not left_out:
            return valid  # the common case, a valid file: no copy of a big mapping
        return _Either(valid, left_out)


class _Any:
    def __contains__(self, _: object) -> bool:
        return True


class _Either:
    def __init__(self, first: Container[Any], second: Container[Any]) -> None:
        self.first = first
        self.second = second

    def __contains__(self, key: object) -> bool:
        return key in self.first or key in self.second


_ANY = _Any()
_NOTHING_LEFT_OUT = LeftOut()


def check_scenario(
    scenario: Scenario, report: Report, left_out: LeftOut = _NOTHING_LEFT_OUT
) -> Scenario:
    """The checks that need more than one part of the file; returns custom values converted.

    `left_out`: what the model was built without (see LeftOut); no follow-on of it is
    reported."""
    if not left_out.fields & {"start", "duration"}:
        try:
            scenario.end  # noqa: B018 - computing it is the check
        except OverflowError:
            report(("duration",), "the run would end after the year 9999")
    start = None if "start" in left_out.fields else scenario.start
    check_faults(scenario.faults, start, scenario.duration, report)
    if scenario.stages and scenario.speed is not None:
        report(
            ("stages",),
            "stages shape the rate of records and speed the pace of time: give one of them",
        )

    for db_path, database in scenario.databases.items():
        if database.replica_id is None and not is_directory(db_path):
            report(("databases", db_path, "replica_id"), "required field missing")
        if database.documents and is_directory(db_path):
            # Nothing opens a directory's documents: their charges would bill nothing.
            report(
                ("databases", db_path, "documents"),
                "a directory holds no documents: declare them on the database they are in",
            )

    struct_types: dict[int, str] = {}
    for type_name, custom in scenario.custom_types.items():
        where = ("custom_types", type_name)
        other = struct_types.setdefault(custom.struct_type, type_name)
        if other != type_name:
            report((*where, "struct_type"), f"struct type also used by {other}")
        size = _frame_size(custom.ctypes, 0)
        if size > c.MQ_MAX_MSGSIZE:
            report(where, f"a frame would be {size} bytes, over {c.MQ_MAX_MSGSIZE}")
        _check_c_names(scenario, report, type_name, custom)

    users = left_out.declared("users", scenario.users)
    databases = left_out.declared("databases", scenario.databases)
    custom_types = left_out.declared("custom_types", scenario.custom_types)
    script: list[Action] = []
    for action in scenario.script:
        path = ("script", action.index)
        if scenario.duration is not None and action.at >= scenario.duration:
            report(
                (*path, "at"),
                f"{format_duration(action.at)} is not before the end of the run "
                f"(duration {format_duration(scenario.duration)})",
            )
        check_references(report, path, action, users, databases)
        kind = type(action)
        if kind in SESSION_ACTIONS:
            if kind in _NOTE_ACTIONS:
                charged = cast("ReadAction | WriteAction", action)
                if charged.note_id is not None:
                    _check_charged(report, (*path, "note_id"), charged, scenario.databases)
        elif isinstance(action, ReplicateAction):
            for position, replicated in enumerate(action.databases):
                db_field = (*path, "databases", position, "db")
                _check_task_db(scenario, databases, report, db_field, replicated.db, action.action)
        elif isinstance(action, AgentAction):
            _check_task_db(scenario, databases, report, (*path, "db"), action.db, action.action)
            strings = (scenario.resolve_name(action.signer), action.task, action.db)
            _check_size(report, path, AGENTREC.fields, sum(map(utf8_len, strings)))
        elif isinstance(action, MailAction):
            recipients = [scenario.resolve_name(name) for name in action.to]
            for position, name in enumerate(recipients):
                if "," in name:
                    report((*path, "to", position), "a recipient name must not contain a comma")
            joined = utf8_len(",".join(recipients))
            _check_size(report, path, MAILREC.fields, joined)
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
            _check_size(report, path, HTTPREQREC.fields, variable)
        elif isinstance(action, CustomAction):
            script.append(_check_custom(scenario, custom_types, report, path, action))
            continue
        script.append(action)
    return scenario.model_copy(update={"script": script})


def _check_c_names(scenario: Scenario, report: Report, type_name: str, custom: CustomType) -> None:
    """Names `billsim header` can declare in C: no keyword, clash or repeated field."""
    where = ("custom_types", type_name)
    problem = type_name_problem(type_name)
    if problem is not None:
        report(where, f"not usable as a C type name: {problem}")
    seen: set[str] = set()
    for position, (field_name, _ctype) in enumerate(custom.fields):
        path = (*where, "fields", position)
        if field_name in seen:
            report(path, f"field {field_name} is declared twice")
        seen.add(field_name)
        problem = field_name_problem(field_name, scenario.custom_types)
        if problem is not None:
            report(path, f"not usable as a C field name: {problem}")


def _check_task_db(
    scenario: Scenario,
    declared: Container[str],
    report: Report,
    path: Sequence[Any],
    db: str,
    task: str,
) -> None:
    """A replication or an agent needs a declared database, not a directory (a path ending
    `/`): a directory has no replica ID to bill it under."""
    _check_declared(report, path, db, declared)
    if db in scenario.databases and is_directory(db):
        report(path, f"{quoted(db)} is a directory: {task} needs a database")


def check_references(
    report: Report,
    path: Sequence[Any],
    action: ActionBase,
    users: Container[str],
    databases: Container[str],
) -> None:
    """The user and the database a session action names are declared in the file."""
    if is_session_action(action) and action.user not in users:
        report((*path, "user"), f"unknown user {quoted(action.user)} (not a key of users)")
    if type(action) in _DB_ACTIONS:
        db = cast("OpenAction | CloseAction | ReadAction | WriteAction | EditAction", action).db
        _check_declared(report, (*path, "db"), db, databases)


def _check_charged(
    report: Report,
    path: Sequence[Any],
    action: ReadAction | WriteAction,
    databases: Mapping[str, Database],
) -> None:
    """A scripted read or write of a note must bill something: the note is a document of
    the database's `documents` with a charge above 0 for that action. Anything else would
    silently write no DOCUMENT, which is a typo far more often than a wish; a read or write
    without `note_id` is the way to say "database activity, no document"."""
    database = databases.get(action.db)
    if database is None or action.note_id is None:
        return  # an undeclared database is reported as such
    documents = f"databases[{action.db}].documents"
    charges = database.documents.get(action.note_id)
    if charges is None:
        report(
            path,
            f"note {action.note_id:#x} is not a document of {documents}, so it would be "
            "billed nothing: declare it there with its charge_read / charge_write, or "
            "leave note_id out",
        )
        return
    key = "charge_write" if isinstance(action, WriteAction) else "charge_read"
    if getattr(charges, key) > 0:
        return
    why = f"its {key} is 0" if key in charges.model_fields_set else f"it has no {key}"
    report(
        path,
        f"a {action.action} of note {action.note_id:#x} in {action.db} bills nothing: {why} "
        f"(give it one in {documents}, or leave note_id out for a {action.action} of no "
        "document)",
    )


def _check_declared(
    report: Report, path: Sequence[Any], db: str, databases: Container[str]
) -> None:
    if db not in databases:
        report(path, f"database {quoted(db)} is not declared in databases")


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
    report: Report, path: Sequence[Any], fields: tuple[CField, ...], variable: int
) -> None:
    size = _frame_size(fields, variable)
    if size > c.MQ_MAX_MSGSIZE:
        report(path, f"its record would make a {size}-byte frame, over {c.MQ_MAX_MSGSIZE}")


def _check_custom(
    scenario: Scenario,
    declared: Container[str],
    report: Report,
    path: Sequence[Any],
    action: CustomAction,
) -> CustomAction:
    custom = scenario.custom_types.get(action.type)
    if custom is None:
        if action.type not in declared:
            report(
                (*path, "type"), f"unknown custom type {quoted(action.type)} (not in custom_types)"
            )
        return action
    fields = dict(custom.ctypes)
    for name in action.values:
        if name not in fields:
            report((*path, "values", name), f"unknown field of {action.type}")
    converted: dict[str, Any] = {}
    for name, ctype in fields.items():
        if name not in action.values:
            report((*path, "values"), f"missing field {name} of {action.type}")
            continue
        try:
            converted[name] = custom_value(ctype, action.values[name])
        except CustomValueError as exc:
            report((*path, "values", name, *exc.subpath), str(exc))
    return action.model_copy(update={"values": converted})


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


def check_workload(workload: Workload, databases: Container[str], report: Report) -> None:
    """A validated `workload:` block: known actions, declared databases, a name and an
    address that fit for every user, keys that mean something together, and generated
    databases with valid, distinct paths."""
    where = ("workload",)
    _check_workload_keys(workload, report)
    spec = workload.generated_databases
    if spec is not None:
        _check_generated_databases(workload, spec, databases, report)
    for key in workload.mix:
        if key not in WORKLOAD_ACTIONS:
            report(
                (*where, "mix", key),
                f"unknown action {quoted(key)} (one of {', '.join(WORKLOAD_ACTIONS)})",
            )
    if not any(workload.mix.values()):
        report((*where, "mix"), "at least one action needs a weight above 0")
    for position, path in enumerate(workload.declared_databases or ()):
        _check_declared(report, (*where, "databases", position), path, databases)
    check_schedules(workload, databases, report)
    renders = (
        ("name", workload.name_of, domino_name),
        ("address", workload.address_of, net_address),
    )
    for key, render, check in renders:
        for n in _longest_candidates(workload.users):
            try:
                text = render(n)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
                report((*where, key), f"bad template: {quoted(error)}")
                break
            try:
                check(text)
            except ValueError as error:
                report((*where, key), f"for user {n}: {error}")
                break
    if workload.mail is not None:
        # Generated mail packs its recipients' names into one comma-separated string.
        for n in _longest_candidates(workload.users):
            try:
                text = workload.name_of(n)
            except (KeyError, IndexError, ValueError, AttributeError, TypeError):
                break  # reported above
            if "," in text:
                report((*where, "name"), f"for user {n}: a mail recipient's name has a comma")
                break
    if workload.http is not None:
        _check_http(workload, report)
    _check_finishes(workload, report)


# Below these, the virtual clock barely moves: a think time of 0 makes a user act every
# microsecond (the least step), a zero interval an agent run at every step, and a run of
# an hour would take days of wall time. A workload that cannot finish is refused when it
# is loaded (docs/scenario.md, Errors). Real servers are far above both.
MIN_THINK_TIME_US = 1_000  # 1 ms: a user acting at most ~1,000 times a second
MIN_INTERVAL_US = 1_000_000  # 1 s between scheduled replications or agent runs


def _check_finishes(workload: Workload, report: Report) -> None:
    """Refuse generated activity whose mean gap is so small that the run would not finish."""
    where = ("workload",)
    too_busy = "the run would not finish: the virtual clock would barely move"
    if workload.think_time.mean < MIN_THINK_TIME_US:
        report(
            (*where, "think_time"),
            f"a mean think time below {format_duration(MIN_THINK_TIME_US)}: {too_busy}",
        )
    if workload.http is not None and workload.http.think.mean < MIN_THINK_TIME_US:
        report(
            (*where, "http", "think"),
            f"a mean think time below {format_duration(MIN_THINK_TIME_US)}: {too_busy}",
        )
    for position, replication in enumerate(workload.replication):
        if replication.every < MIN_INTERVAL_US:
            report(
                (*where, "replication", position, "every"),
                f"an interval below {format_duration(MIN_INTERVAL_US)}: {too_busy}",
            )


def check_schedules(workload: Workload, databases: Container[str], report: Report) -> None:
    """Scheduled replication and agents: a partner to replicate with, a database for each
    agent that the scenario declares or the workload generates, and an interval."""
    for position, replication in enumerate(workload.replication):
        if replication.with_ is None and workload.servers == 1:
            report(
                ("workload", "replication", position, "with"),
                "required field missing: one server has no other to replicate with "
                "(without `with`, a domain's first server replicates with the others)",
            )
    generated: set[str] | None = None
    for position, agent in enumerate(workload.agents):
        path = ("workload", "agents", position)
        if agent.db in databases:
            if is_directory(agent.db):
                report(
                    (*path, "db"), f"{quoted(agent.db)} is a directory: an agent needs a database"
                )
        else:
            if generated is None:
                spec = workload.generated_databases
                generated = (
                    set() if spec is None else {spec.path_of(n) for n in range(1, spec.count + 1)}
                )
            if agent.db not in generated:
                report(
                    (*path, "db"),
                    f"database {quoted(agent.db)} is neither declared in databases nor generated "
                    "by workload.databases",
                )
        if agent.every.mean < MIN_INTERVAL_US:
            report(
                (*path, "every"),
                f"an agent's interval must be at least {format_duration(MIN_INTERVAL_US)}"
                " on average: below, the run would not finish",
            )
        # The signer may be a key of users whose name is longer: count the longest name.
        signer = max(utf8_len(agent.signer or ""), c.MAXUSERNAME)
        _check_size(report, path, AGENTREC.fields, signer + utf8_len(agent.task + agent.db))


def _check_workload_keys(workload: Workload, report: Report) -> None:
    """Keys that a calendar makes meaningless, and a session length given twice."""
    where = ("workload",)
    given = workload.model_fields_set
    if workload.calendar is not None:
        for key in ("arrival", "relogin"):
            if key in given:
                report(
                    (*where, key),
                    "has no meaning with a calendar: users sign on once a day, when its curve says",
                )
        if not workload.calendar.days:
            report((*where, "calendar", "days"), "no working day: nobody would ever sign on")
    session = workload.session
    if "session_length" in given and session is not None and "length" in session.model_fields_set:
        report(
            (*where, "session", "length"),
            "the session length is given twice: keep session.length or session_length",
        )


def database_path_problem(path: str) -> str | None:
    """Why `path` cannot name a generated database, or None."""
    if not path.strip():
        return "renders an empty path"
    if "\0" in path:
        return "renders a path with a NUL character"
    if is_directory(path):
        return f"renders {quoted(path)}, a directory (a path ending /): it would bill nothing"
    return None


def _check_generated_databases(
    workload: Workload, spec: DatabasesSpec, databases: Container[str], report: Report
) -> None:
    where = ("workload", "databases")
    if isinstance(spec.popularity, Exponential | LogNormal):
        report(
            (*where, "popularity"),
            "a popularity is zipf, table, uniform or constant: a rank from 1 to count",
        )
    seen: dict[str, int] = {}
    for rank in range(1, spec.count + 1):
        path = spec.path_of(rank)  # a template that cannot render was refused as it loaded
        problem = database_path_problem(path)
        if problem is None and path in seen:
            problem = (
                f"renders {quoted(path)} for databases {seen[path]} and {rank}: put {{n}} in it"
            )
        if problem is None and path in databases:
            problem = f"renders {quoted(path)}, a database declared in databases"
        if problem is not None:
            report((*where, "path"), problem)
            break
        seen[path] = rank
    if spec.mail_file is None:
        return
    mail_files: dict[str, int] = {}
    # Users 1 and 2 share a mail file unless the template tells them apart; the longest
    # names make the longest paths.
    for n in sorted({1, min(2, workload.users), *_longest_candidates(workload.users)}):
        try:
            mail_file = workload.mail_file_of(n)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
            report(
                (*where, "mail_file"),
                f"bad template: {quoted(error)} (it takes {{n}} and {{user}})",
            )
            return
        assert mail_file is not None
        problem = database_path_problem(mail_file)
        if problem is None and mail_file in mail_files:
            problem = (
                f"users {mail_files[mail_file]} and {n} would share {quoted(mail_file)}: "
                "put {n} or {user} in it"
            )
        if problem is None and mail_file in seen:
            problem = f"user {n}'s mail file {quoted(mail_file)} is also a generated database"
        if problem is not None:
            report((*where, "mail_file"), problem)
            return
        mail_files[mail_file] = n


def _check_http(workload: Workload, report: Report) -> None:
    """The web requests' kinds and status codes: known, and one of each with a weight."""
    http = workload.http
    assert http is not None
    where = ("workload", "http")
    unknown = [kind for kind in http.mix if kind not in HTTP_KINDS]
    for kind in unknown:
        report(
            (*where, "mix", kind), f"unknown kind {quoted(kind)} (one of {', '.join(HTTP_KINDS)})"
        )
    if not unknown and not any(http.mix.values()):
        report((*where, "mix"), "at least one kind needs a weight above 0")
    for code in http.status:
        if not 100 <= code <= 999:
            report((*where, "status", code), f"an HTTP status code is 100 to 999, got {code}")
    if not any(http.status.values()):
        report((*where, "status"), "at least one status code needs a weight above 0")
