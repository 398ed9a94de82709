"""Scenario file -> `Scenario` (docs/scenario.md), each problem as `file:line: field: message`.

YAML with line numbers in, the models and their pydantic errors, then the load-time checks
(`simulator.scenario.checks`); a ScenarioError lists all the problems found, by line.
"""

from __future__ import annotations

import difflib
from collections.abc import Container, Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from simulator.errors import InputError, printable, quoted
from simulator.scenario.checks import LeftOut, check_references, check_scenario, check_workload
from simulator.scenario.faults import Faults
from simulator.scenario.messages import error_message
from simulator.scenario.models import (
    ACTION_MODELS,
    Action,
    ActionBase,
    Database,
    Scenario,
    SessionActionBase,
    User,
    is_directory,
    is_session_action,
)
from simulator.scenario.notes_ini import (
    IniEntry,
    NotesIniSettings,
    entries_from_mapping,
    resolve_settings,
)
from simulator.scenario.presets import with_preset
from simulator.scenario.workload import UNION_TAGS, Workload
from simulator.scenario.yamlsource import (
    LinedDict,
    LinedList,
    line_of,
    load_yaml,
    paused_gc,
    read_yaml,
    render_path,
)

__all__ = [
    "ScenarioError",
    "by_line",
    "load_scenario",
    "load_scenario_text",
    "parse_workload",
    "render_path",
]


# The problems a ScenarioError prints: one bad file can hold thousands (a mutated list of
# generated users, a line repeated), and the first screenful says what to fix.
MAX_PRINTED_PROBLEMS = 50


class ScenarioError(InputError):
    """Every problem found in a scenario, one `file:line: field: message` per line (the
    first MAX_PRINTED_PROBLEMS of them, then how many more there are), by line.

    Its own file, line and field are those of the first problem. `runnable` is the
    scenario without what the problems touch, for a dry run of its script to find the
    rest (see `_runnable`), which leaves out the users named in `left_out`; None when
    they leave nothing to run, because of the problems of the fields in `blocked`.
    `note`: a last line, after them.
    """

    def __init__(
        self,
        errors: Sequence[InputError],
        *,
        runnable: Scenario | None = None,
        left_out: Sequence[str] = (),
        blocked: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)
        self.errors: tuple[InputError, ...] = tuple(errors)
        self.runnable = runnable
        self.left_out = tuple(left_out)
        self.blocked = tuple(blocked)
        self.note = note

    def __str__(self) -> str:
        lines = [str(error) for error in self.errors[:MAX_PRINTED_PROBLEMS]]
        more = len(self.errors) - MAX_PRINTED_PROBLEMS
        if more > 0:
            lines.append(f"… and {more:,} more problem{'s' if more > 1 else ''} in {self.file}")
        if self.note is not None:
            lines.append(printable(self.note))
        return "\n".join(lines)

    def with_errors(self, errors: Sequence[InputError]) -> ScenarioError:
        """These problems too (a dry run's), all by line; nothing left to run."""
        return ScenarioError(by_line([*self.errors, *errors]), note=self.note)

    def with_note(self, note: str) -> ScenarioError:
        return ScenarioError(self.errors, note=note)


def by_line(errors: Sequence[InputError]) -> list[InputError]:
    """`errors` in the order of their lines (those of no line first), each once."""
    unique = {str(error): error for error in errors}
    return sorted(unique.values(), key=lambda e: e.line or 0)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises InputError: a ScenarioError listing every problem found once the YAML parses.
    """
    with paused_gc():  # a big scenario's models would be walked by every collection
        return _build(read_yaml(path), str(path))


def load_scenario_text(text: str, filename: str = "<scenario>") -> Scenario:
    with paused_gc():
        return _build(load_yaml(text, filename), filename)


# Parts of a pydantic error's location that are no field of the file: a dict key's
# marker, and the tags of the workload's unions.
_NOT_FIELDS = frozenset({"[key]", *UNION_TAGS})


class _Problems:
    """Collects errors against one parsed file, so a run of `validate` reports them all;
    `paths` holds the path of each, for what a dry run must leave out."""

    def __init__(self, doc: Any, filename: str) -> None:
        self.doc = doc
        self.filename = filename
        self.errors: list[InputError] = []
        self.paths: list[tuple[Any, ...]] = []
        # Actions that failed validation only in fields a dry run does not read, rebuilt
        # without those fields, by script index: their users can still be dry-run.
        self.stand_ins: dict[int, ActionBase] = {}

    def add(self, path: Sequence[Any], message: str) -> None:
        self.add_error(
            tuple(path),
            InputError(
                message,
                file=self.filename,
                line=line_of(self.doc, path),
                field=render_path(path) or None,
            ),
        )

    def add_error(self, path: tuple[Any, ...], error: InputError) -> None:
        self.errors.append(error)
        self.paths.append(path)

    def add_validation(
        self,
        exc: ValidationError,
        prefix: Sequence[Any] = (),
        model: type[BaseModel] | None = None,
    ) -> None:
        """Each of pydantic's errors at its line; with `model` (the one validated), an
        unknown key near a key its mapping takes is given that key as a guess."""
        for error in exc.errors():
            loc = [part for part in error["loc"] if part not in _NOT_FIELDS]
            key = _key_not_text(self.doc, [*prefix, *error["loc"]], error["type"])
            if key is None:
                message = error_message(error)
                if error["type"] == "extra_forbidden" and model is not None:
                    keys = _keys_at(model, error["loc"][:-1])
                    message += _did_you_mean(error["loc"][-1], keys)
                self.add([*prefix, *loc], message)
                continue
            parent, written = key
            self.add_error(
                (*prefix, *loc),
                InputError(
                    f"a key must be text, not {_shown_key(written)}",
                    file=self.filename,
                    line=line_of(self.doc, [*parent, written]),
                    field=render_path(parent) or None,
                ),
            )

    def raise_if_any(self, scenario: Scenario | None = None) -> None:
        """A ScenarioError of every problem, if any; with what of `scenario` can still
        be dry-run (None: nothing can)."""
        if not self.errors:
            return
        runnable: Scenario | None = None
        left_out: tuple[str, ...] = ()
        blocked: tuple[str, ...] = ()
        if scenario is not None:
            runnable, left_out, blocked = _runnable(scenario, self.paths, self.doc, self.stand_ins)
        raise ScenarioError(
            by_line(self.errors), runnable=runnable, left_out=left_out, blocked=blocked
        )


def _did_you_mean(key: Any, keys: Sequence[str]) -> str:
    """` (did you mean duration?)` for an unknown key one slip from a key its mapping takes
    (`duraton`, `byts_in`); nothing when none is that close."""
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _keys_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys the mapping at pydantic's `loc` under `model` takes (as written: aliases
    such as BillingClass); where `loc` passes a union, those of each of its models."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    return sorted({key for found in _members(annotation) for key in _by_key(found)})


def _step(annotation: Any, part: Any) -> Any:
    """What `part` of pydantic's loc leads to from `annotation`: a model's field, a list's
    item, a mapping's value, or (a union's tag, which names no field) the union itself."""
    annotation = _unwrapped(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = _by_key(annotation).get(part)
        return None if field is None else field.annotation
    origin = get_origin(annotation)
    if origin is list or origin is tuple or origin is Sequence:
        return get_args(annotation)[0] if isinstance(part, int) else None
    if origin is dict or origin is Mapping:
        return get_args(annotation)[1]
    if origin is Union or origin is UnionType:
        for member in _members(annotation):
            field = _by_key(member).get(part)
            if field is not None:
                return field.annotation
        return annotation
    return None


def _unwrapped(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[type[BaseModel]]:
    """The models `annotation` is, itself or as a union's members."""
    annotation = _unwrapped(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return []


def _by_key(model: type[BaseModel]) -> dict[str, Any]:
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _key_not_text(doc: Any, path: Sequence[Any], kind: str) -> tuple[list[Any], Any] | None:
    """(the mapping's path, the key as written) for pydantic's error about a key that is
    not text (`~: 1`, `1: 1`): a model's `invalid_key`, a dict's `string_type` at `[key]`.
    Pydantic gives the key as text (`None`), which no line of the file is found by."""
    if kind == "invalid_key" and path:
        parent, given = list(path[:-1]), path[-1]
    elif kind == "string_type" and len(path) > 1 and path[-1] == "[key]":
        parent, given = list(path[:-2]), path[-2]
    else:
        return None
    node = doc
    for part in parent:
        if not isinstance(node, LinedDict | LinedList):
            return None
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(node, LinedDict):
        return None
    for key in node:
        if not isinstance(key, str) and given in (key, str(key), repr(key)):
            return parent, key
    return None


def _shown_key(key: Any) -> str:
    """A key as YAML writes it, and what it is taken for."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return f"{str(key).lower()} (a boolean)"
    if isinstance(key, int | float):
        return f"{key} (a number)"
    return f"{key} (a {type(key).__name__})"  # a date: 2026-01-01 unquoted


def _build(doc: Any, filename: str) -> Scenario:
    problems = _Problems(doc, filename)
    if not isinstance(doc, LinedDict):
        # An empty file, a lone value or a list: the whole file is wrong, from its top.
        problems.add_error(
            (),
            InputError(
                ("empty: " if doc is None else "")
                + "a scenario is a YAML mapping (name:, start:, duration:, …)",
                file=filename,
                line=doc.line if isinstance(doc, LinedList) else 1,
            ),
        )
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
            problems.add_error(("notes_ini",), exc)
    elif block is not None:
        problems.add(("notes_ini",), "must be a mapping of notes.ini settings")
    data["notes_ini"] = settings

    script = data.pop("script", None)
    data["script"] = _script(script, problems) if script is not None else []

    scenario, left_out = _validate(data, problems)
    if scenario is None:
        problems.raise_if_any()
    assert scenario is not None

    # The cross-checks, on all that did validate: one run of `validate` lists every problem.
    scenario = check_scenario(scenario, problems.add, left_out)
    if scenario.workload:
        databases = left_out.declared("databases", scenario.databases)
        # With no valid databases block, the workload's references cannot be checked.
        check = "databases" not in left_out.fields
        _workload(scenario.workload, databases, problems, check=check)
    scenario._filename = filename
    scenario._doc = doc
    scenario._ini_entries = ini_entries
    problems.raise_if_any(scenario)
    return scenario


# The entries of these mappings are validated one by one: one that fails is left out of
# the model, and the rest are checked.
_ENTRIES = ("users", "databases", "custom_types")
# What stands in for a required field that failed validation, so that the rest can be
# built and checked. Nothing is checked against a stand-in, and a dry run is made with
# none but the name, start and server (see _NOT_RUN).
_STAND_INS: dict[str, Any] = {
    "name": "-",
    "start": "2000-01-01T00:00:00Z",
    "duration": "forever",
    "server": "CN=Server/O=Org",
}


def _validate(data: dict[str, Any], problems: _Problems) -> tuple[Scenario | None, LeftOut]:
    """The model, and what it was built without: when some field is invalid, the model
    of the rest (the entries of users, databases and custom_types that did validate, the
    other fields at their defaults or stand-ins), for the checks that can still be made.

    A valid file is validated once; one with problems, twice (the cost of a file that is
    refused anyway). None: even the rest is invalid.
    """
    try:
        return Scenario.model_validate(data), LeftOut()
    except ValidationError as exc:
        problems.add_validation(exc, (), Scenario)
        errors = exc.errors()
    fields: set[str] = set()
    entries: dict[str, set[Any]] = {part: set() for part in _ENTRIES}
    for error in errors:
        loc = error["loc"]
        head = loc[0] if loc else ""
        if head in entries and len(loc) > 1 and isinstance(data.get(str(head)), Mapping):
            entries[str(head)].add(loc[1])
        else:
            fields.add(str(head))
    rest = {key: value for key, value in data.items() if key not in fields}
    for part, bad in entries.items():
        if bad:
            rest[part] = {key: value for key, value in data[part].items() if key not in bad}
    rest.update({key: value for key, value in _STAND_INS.items() if key in fields})
    left_out = LeftOut(
        fields=frozenset(fields),
        users=frozenset(entries["users"]),
        databases=frozenset(entries["databases"]),
        custom_types=frozenset(entries["custom_types"]),
    )
    try:
        return Scenario.model_validate(rest), left_out
    except ValidationError:
        # No model to cross-check: still say which script lines name a user or a database
        # the file does not declare, so one run of `validate` lists those too.
        _check_names_declared(data, problems)
        return None, left_out


def _check_names_declared(data: Mapping[str, Any], problems: _Problems) -> None:
    """The users and databases the valid script actions name, against the keys written."""
    users, databases = data.get("users", {}), data.get("databases", {})
    if not isinstance(users, Mapping) or not isinstance(databases, Mapping):
        return  # the model's errors say what is wrong with them
    for action in data["script"]:
        check_references(problems.add, ("script", action.index), action, users, databases)


# The top-level fields a dry run of the script does not depend on: their problems leave
# it to be made. A problem of any other (duration, idle_timeout, users or the script as a
# whole, …) stops it, and so does an unknown key that may be one of those misspelled (see
# _may_be_meant_as_a_run_field). The dry run is without faults, workload and custom
# types, and its state errors depend on none of these; nor on `start` (every `at` is
# from it) or on the server's name, whose stand-ins (_STAND_INS) it is made with.
_NOT_RUN = frozenset(
    {
        "name",
        "description",
        "start",
        "server",
        "seed",
        "speed",
        "stages",
        "server_address",
        "stamp_policy",
        "notes_ini",
        "workload",
        "faults",
        "custom_types",
    }
)
_TASKS = frozenset(
    name for name, model in ACTION_MODELS.items() if not issubclass(model, SessionActionBase)
)
# What a dry run reads at the top level.
_RUN = frozenset(Scenario.model_fields) - _NOT_RUN
_Entry = TypeVar("_Entry", User, Database)


def _may_be_meant_as_a_run_field(key: Any, doc: Any) -> bool:
    """Whether an unknown top-level key may be a field the dry run reads, misspelled: one
    close to it that the file does not have (`idle-timeout` with no `idle_timeout`). Any
    other unknown key (`bogus: 1`, `descripton`) changes nothing the dry run reads."""
    written = doc if isinstance(doc, LinedDict) else {}
    absent = [field for field in _RUN if field not in written]
    word = str(key).lower().replace("-", "_").replace(" ", "_")
    return bool(difflib.get_close_matches(word, absent, n=1, cutoff=0.6))


def _entry_stand_in(
    model: type[_Entry], part: str, key: Any, fields: set[Any], doc: Any
) -> _Entry | None:
    """An entry of `users` or `databases` wrong only in fields no such entry has
    (`colour: red`), made of the rest as written; else None."""
    if not fields or any(not isinstance(f, str) or f in model.model_fields for f in fields):
        return None
    entries = doc.get(part) if isinstance(doc, LinedDict) else None
    entry = entries.get(key) if isinstance(entries, LinedDict) else None
    if not isinstance(entry, LinedDict):
        return None
    try:
        return model.model_validate({k: v for k, v in entry.items() if k not in fields})
    except ValidationError:
        return None


def _checks_out(path: str, database: Database) -> bool:
    """Whether a database stand-in passes check_scenario's checks of a database."""
    if is_directory(path):
        return not database.documents
    return database.replica_id is not None


def _runnable(
    scenario: Scenario,
    paths: Sequence[tuple[Any, ...]],
    doc: Any,
    stand_ins: Mapping[int, ActionBase],
) -> tuple[Scenario | None, tuple[str, ...], tuple[str, ...]]:
    """What of a scenario with problems can still be dry-run, to find its state errors
    (a close of a database not open, …) in the same run, and the users it leaves out;
    else None and why not (the fields whose problems stop it).

    Only the session actions can make state errors, so only they are kept, and not all
    of them: those of a user with an invalid entry or action, or acting on a bad
    database, are left out (named in the second item), since what the dry run would say
    of them may follow from the bad one (a close of a database whose open was invalid).
    An action wrong only in what the dry run does not read (`bytes_in: -4`) is no bad
    action here: its `stand_ins` entry, built without those fields, takes its place.
    `scenario` is the model of what did validate, the problems' `paths` say what else to
    leave out.
    """
    bad_actions: set[int] = set()
    bad_users: set[Any] = set()
    blocked: list[str] = []
    # The fields of each entry with problems (None: the entry as a whole).
    entry_problems: dict[str, dict[Any, set[Any]]] = {"users": {}, "databases": {}}
    for path in paths:
        head = path[0] if path else None
        if head == "script" and len(path) > 1 and isinstance(path[1], int):
            bad_actions.add(path[1])
        elif head in entry_problems and len(path) > 1:
            fields = entry_problems[head].setdefault(path[1], set())
            fields.add(path[2] if len(path) > 2 else None)
        elif head in _NOT_RUN:
            continue
        elif head in Scenario.model_fields or _may_be_meant_as_a_run_field(head, doc):
            blocked.append(render_path(path[:1]) or "the whole file")
    declared = dict(scenario.users)
    for key, fields in entry_problems["users"].items():
        user = _entry_stand_in(User, "users", key, fields, doc)
        if user is None:
            bad_users.add(key)
        else:
            declared[key] = user
    databases = dict(scenario.databases)
    for key, fields in entry_problems["databases"].items():
        database = _entry_stand_in(Database, "databases", key, fields, doc)
        if database is not None and not _checks_out(key, database):
            database = None  # what check_scenario would refuse (a database with no replica)
        if database is None or key in databases:  # a cross-check's finding on a valid entry
            databases.pop(key, None)
        else:
            databases[key] = database
    validated = {action.index for action in scenario.script}
    written = doc.get("script") if isinstance(doc, LinedDict) else None
    for index in sorted(bad_actions - validated - stand_ins.keys()):
        # An action that did not validate: its user (as written) is left out, unless it is
        # a server task; with no user to name, nothing is dry-run.
        item = written[index] if isinstance(written, LinedList) and index < len(written) else None
        kind = item.get("action") if isinstance(item, LinedDict) else None
        if isinstance(kind, str) and kind in _TASKS:
            continue
        user = item.get("user") if isinstance(item, LinedDict) else None
        if isinstance(user, str):
            bad_users.add(user)
        else:
            blocked.append(render_path(("script", index)))
    if blocked:
        return None, (), tuple(dict.fromkeys(blocked))
    sessions = [
        action for action in (*scenario.script, *stand_ins.values()) if is_session_action(action)
    ]
    for action in sessions:
        db = getattr(action, "db", None)
        # A cross-check's finding on an action that did validate (a note that bills
        # nothing, a time after the end) changes nothing the dry run reads: it is run as
        # written. A wrong reference leaves its user out.
        if action.user not in declared or (db is not None and db not in databases):
            bad_users.add(action.user)
    # A session is a user's name and address: two keys naming the same user share it.
    bad_names = {(user.name, user.address) for key, user in declared.items() if key in bad_users}
    users = {
        key: user for key, user in declared.items() if (user.name, user.address) not in bad_names
    }
    script = [action for action in sessions if action.user in users]
    # Those of the file's users, an invalid entry too (an unknown one is reported as such).
    in_file = declared.keys() | entry_problems["users"].keys()
    left_out = sorted({action.user for action in sessions if action.user in in_file} - users.keys())
    runnable = scenario.model_copy(
        update={
            "users": users,
            "databases": databases,
            "script": script,
            "custom_types": {},
            "workload": {},
            "faults": Faults(),
        }
    )
    return runnable, tuple(left_out), ()


# The whole script in one validation: pydantic's per-call cost, 30,000 times over, was
# most of the time a big script took to load.
_SCRIPT = TypeAdapter(list[Action])


def _script(items: Any, problems: _Problems) -> list[ActionBase]:
    if not isinstance(items, LinedList):
        problems.add(("script",), "must be a list of actions")
        return []
    candidates: list[dict[Any, Any]] = []
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
                "required field missing"
                if name is None
                else f"unknown action {quoted(name)} ({known})",
            )
            continue
        for reserved in ("line", "index"):
            if reserved in item:
                problems.add((*path, reserved), "unknown field")
        candidates.append({**item, "line": items.lines[index], "index": index})
    try:
        return list(_SCRIPT.validate_python(candidates))
    except ValidationError:
        pass
    # Some action is wrong: validated one by one, each error names its action's fields,
    # and the valid actions are kept for the checks that can still be made.
    actions: list[ActionBase] = []
    for candidate in candidates:
        index = candidate["index"]
        try:
            actions.append(ACTION_MODELS[candidate["action"]].model_validate(candidate))
        except ValidationError as exc:
            problems.add_validation(exc, ("script", index), ACTION_MODELS[candidate["action"]])
            stand_in = _stand_in(candidate, exc)
            if stand_in is not None:
                problems.stand_ins[index] = stand_in
    return actions


# What a dry run reads of a session action: when, who, what, where. An action wrong in
# any of these cannot stand in for what was written.
_DRY_RUN_FIELDS = frozenset({"at", "user", "action", "db", "note_id", "line", "index"})


def _stand_in(candidate: Mapping[str, Any], exc: ValidationError) -> ActionBase | None:
    """The action without the fields its errors name, when none of them is one a dry run
    reads and the rest validates (the fields then at their defaults); else None."""
    fields = set()
    for error in exc.errors():
        loc = error["loc"]
        if not loc or not isinstance(loc[0], str):
            return None
        if loc[0] in _DRY_RUN_FIELDS and error["type"] != "extra_forbidden":
            return None  # a field the action does not have is never read: it can go
        fields.add(loc[0])
    rest = {key: value for key, value in candidate.items() if key not in fields}
    try:
        return ACTION_MODELS[candidate["action"]].model_validate(rest)
    except ValidationError:
        return None


def parse_workload(raw: Mapping[str, Any], databases: Container[str], filename: str) -> Workload:
    """A `workload:` block as written (`Scenario.workload`), over its preset if it names
    one (`simulator.scenario.presets`), checked in full, as the model.

    Raises ScenarioError naming `workload.<key>`, with no line: loading the scenario has
    already reported any problem at its line.
    """
    problems = _Problems(None, filename)
    workload = _workload(raw, databases, problems)
    problems.raise_if_any()
    assert workload is not None
    return workload


def _workload(
    raw: Mapping[str, Any], databases: Container[str], problems: _Problems, *, check: bool = True
) -> Workload | None:
    where = ("workload",)
    try:
        workload = Workload.model_validate(with_preset(raw))
    except ValidationError as exc:
        problems.add_validation(exc, where, Workload)
        return None
    if check:
        check_workload(workload, databases, problems.add)
    return workload
