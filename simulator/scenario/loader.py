"""Scenario file -> `Scenario` (docs/scenario.md), each problem as `file:line: field: message`.

YAML with line numbers in, the models and their pydantic errors, then the load-time checks
(`simulator.scenario.checks`); a ScenarioError lists all the problems found, by line.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from simulator.errors import InputError, quoted
from simulator.scenario.checks import check_references, check_scenario, check_workload
from simulator.scenario.models import (
    ACTION_MODELS,
    Action,
    ActionBase,
    Scenario,
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
    read_yaml,
    render_path,
)

__all__ = ["ScenarioError", "load_scenario", "load_scenario_text", "parse_workload", "render_path"]


# The problems a ScenarioError prints: one bad file can hold thousands (a mutated list of
# generated users, a line repeated), and the first screenful says what to fix.
MAX_PRINTED_PROBLEMS = 50


class ScenarioError(InputError):
    """Every problem found in a scenario, one `file:line: field: message` per line (the
    first MAX_PRINTED_PROBLEMS of them, then how many more there are).

    Its own file, line and field are those of the first problem.
    """

    def __init__(self, errors: Sequence[InputError]) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, field=first.field)
        self.errors: tuple[InputError, ...] = tuple(errors)

    def __str__(self) -> str:
        lines = [str(error) for error in self.errors[:MAX_PRINTED_PROBLEMS]]
        more = len(self.errors) - MAX_PRINTED_PROBLEMS
        if more > 0:
            lines.append(f"… and {more:,} more problem{'s' if more > 1 else ''} in {self.file}")
        return "\n".join(lines)


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


# Parts of a pydantic error's location that are no field of the file: a dict key's
# marker, and the tags of the workload's unions.
_NOT_FIELDS = frozenset({"[key]", *UNION_TAGS})


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
            loc = [part for part in error["loc"] if part not in _NOT_FIELDS]
            self.add([*prefix, *loc], _message(error))

    def raise_if_any(self) -> None:
        if self.errors:
            unique = {str(error): error for error in self.errors}
            raise ScenarioError(sorted(unique.values(), key=lambda e: e.line or 0))


def _build(doc: Any, filename: str) -> Scenario:
    problems = _Problems(doc, filename)
    if not isinstance(doc, LinedDict):
        # An empty file, a lone value or a list: the whole file is wrong, from its top.
        problems.errors.append(
            InputError(
                "a scenario is a YAML mapping (name:, start:, duration:, …)",
                file=filename,
                line=doc.line if isinstance(doc, LinedList) else 1,
            )
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
        # No model to cross-check: still say which script lines name a user or a database
        # the file does not declare, so one run of `validate` lists those too.
        _check_names_declared(data, problems)
    problems.raise_if_any()
    assert scenario is not None

    scenario = check_scenario(scenario, problems.add)
    if scenario.workload:
        _workload(scenario.workload, scenario.databases, problems)
    problems.raise_if_any()
    scenario._filename = filename
    scenario._doc = doc
    scenario._ini_entries = ini_entries
    return scenario


def _check_names_declared(data: Mapping[str, Any], problems: _Problems) -> None:
    """The users and databases the valid script actions name, against the keys written."""
    users, databases = data.get("users", {}), data.get("databases", {})
    if not isinstance(users, Mapping) or not isinstance(databases, Mapping):
        return  # the model's errors say what is wrong with them
    for action in data["script"]:
        check_references(problems.add, ("script", action.index), action, users, databases)


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
            problems.add_validation(exc, ("script", index))
    return actions


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
    raw: Mapping[str, Any], databases: Container[str], problems: _Problems
) -> Workload | None:
    where = ("workload",)
    try:
        workload = Workload.model_validate(with_preset(raw))
    except ValidationError as exc:
        problems.add_validation(exc, where)
        return None
    check_workload(workload, databases, problems.add)
    return workload
