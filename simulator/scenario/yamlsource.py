"""Safe YAML loading that remembers the line of every entry, so errors can name `file:line`."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from simulator.errors import InputError, quoted
from simulator.scenario.values import C_IDENTIFIER

_MERGE_TAG = "tag:yaml.org,2002:merge"

# How many values aliases may repeat in one file, beyond those written. A scenario needs
# a handful; nine nested levels of `&a [*b, *b, …]` (a "billion laughs") would build a
# value of billions, which every later step (validation, an error quoting it) would walk.
MAX_ALIAS_REPEATS = 100_000
# The largest whole number a scenario may write: more than any field takes (seeds, DWORD
# counters, sizes), and small enough that every message can print it.
MAX_DIGITS = 38
_LARGEST = 10**MAX_DIGITS


class LinedDict(dict[Any, Any]):
    """A YAML mapping: `line` is where it starts, `lines[key]` where the entry for `key` starts.

    An entry's line is its key's line, which is also where a one-line value is; for a
    nested block it names the key the block hangs from, the place a reader looks first.
    """

    __slots__ = ("line", "lines")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}


class LinedList(list[Any]):
    """A YAML sequence: `line` is where it starts, `lines[i]` where item `i` starts."""

    __slots__ = ("line", "lines")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.lines: list[int] = []


def render_path(path: Sequence[Any]) -> str:
    """How errors name a field: `script[3].bytes_in`, `databases[a/b.nsf].documents[0x2306]`."""
    out = ""
    parent: Any = None
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part:#x}]" if parent == "documents" else f"[{part}]"
        elif isinstance(part, str) and C_IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
        parent = part
    return out


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


# libyaml parses several times faster than the pure-Python parser and keeps the same marks.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    filename = "<yaml>"


def _construct_mapping(loader: _Loader, node: MappingNode) -> LinedDict:
    # Duplicates are checked on the keys as written, before `<<` merges add keys that the
    # mapping is allowed to override.
    seen: dict[Any, int] = {}
    for key_node, _value in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:
            raise InputError(
                "a mapping key must be a plain value, not a list or mapping",
                file=loader.filename,
                line=_line(key_node),
            ) from None
        if first is not None:
            raise InputError(
                f"duplicate key {quoted(key)} (first at line {first})",
                file=loader.filename,
                line=_line(key_node),
            )
        seen[key] = _line(key_node)
    loader.flatten_mapping(node)
    result = LinedDict(_line(node))
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = _line(key_node)
    return result


def _construct_sequence(loader: _Loader, node: SequenceNode) -> LinedList:
    result = LinedList(_line(node))
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.lines.append(_line(item))
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_alias_expansion(root: Node, filename: str) -> None:
    """Refuse a document whose aliases repeat more than MAX_ALIAS_REPEATS values.

    Each node's expanded size (itself and everything under it, aliases followed) is
    counted once, bottom up, without expanding anything; a node that aliases reach
    through a cycle is left to the constructor, which refuses it.
    """
    size: dict[int, int] = {}
    uses: dict[int, int] = {}
    order: list[Node] = []
    stack: list[tuple[Node, bool]] = [(root, False)]
    entered: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            size[key] = 1 + sum(size.get(id(child), 1) for child in _children(node))
            order.append(node)
            continue
        if key in entered:
            continue
        entered.add(key)
        stack.append((node, True))
        for child in _children(node):
            uses[id(child)] = uses.get(id(child), 0) + 1
            if id(child) not in entered:
                stack.append((child, False))
    if size[id(root)] - len(size) <= MAX_ALIAS_REPEATS:
        return
    # Name the first (innermost) collection that repeats aliased values past the limit.
    culprit = next(
        (
            node
            for node in order
            if size[id(node)] > MAX_ALIAS_REPEATS
            and any(uses.get(id(child), 0) > 1 for child in _children(node))
        ),
        root,
    )
    raise InputError(
        f"invalid YAML: aliases here repeat more than {MAX_ALIAS_REPEATS:,} values "
        "(nested aliases that expand like this are refused)",
        file=filename,
        line=_line(culprit),
    )


_INT_TAG = "tag:yaml.org,2002:int"
_INTS = SafeConstructor()  # reads a YAML integer's text as the loader does


def _too_large(text: str) -> bool:
    """Whether a YAML integer's text is past MAX_DIGITS digits, without making the int."""
    digits = text.replace("_", "").lstrip("+-")
    if digits.isdigit():
        return len(digits.lstrip("0")) > MAX_DIGITS
    # 0x…, 0o…, 0b…, sexagesimal: short texts are safe to convert; long ones are too large.
    if len(digits) > 4 * MAX_DIGITS:
        return True
    try:
        value: int = _INTS.construct_yaml_int(ScalarNode(_INT_TAG, text))
    except ValueError:
        return True
    return bool(abs(value) >= _LARGEST)


def _check_numbers(root: Node, filename: str) -> None:
    """Refuse a whole number past MAX_DIGITS digits, naming its line and field."""
    stack: list[tuple[Node, tuple[Any, ...]]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, ScalarNode):
            if node.tag == _INT_TAG and _too_large(str(node.value)):
                raise InputError(
                    f"a whole number of more than {MAX_DIGITS} digits: too large for any field",
                    file=filename,
                    line=_line(node),
                    field=render_path(path) or None,
                )
        elif isinstance(node, SequenceNode):
            stack.extend((child, (*path, index)) for index, child in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else "?"
                stack.append((key, path))
                stack.append((value, (*path, name)))


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, max(position, 0)) + 1


def load_yaml(text: str, filename: str) -> Any:
    """The one document in `text` (None if empty); mappings and sequences carry their lines.

    A document of plain mappings, lists and scalars (what scenarios are) is built straight
    from libyaml's events; anything else, and every error, takes the composing loader
    (`load_composed`), which alone decides what is refused and with which message.
    """
    with paused_gc():
        try:
            return _load_from_events(text)
        except (NotPlainError, yaml.YAMLError, ValueError, OverflowError, TypeError):
            pass  # the composing loader decides what it is
        return load_composed(text, filename)


# Pauses after which paused_gc collects everything once: far more than one command
# makes (a load is two or three, a dry run one), so a command that loads once never pays
# for it, and a process that loads again and again (a fuzzer, a test run) keeps its
# cyclic garbage bounded.
_FULL_COLLECTION_EVERY = 64
_pauses = [0]


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: building a big scenario makes a million objects
    that all live on, and each collection triggered on the way walks all of them again
    (two thirds of the time a 3 MB scenario took to load). Reference counting still frees
    everything else.

    What was made inside then goes straight to the oldest generation (frozen and thawed:
    no walk), so the young collections after it do not walk it all twice to get it there.
    Moved so, it never counts toward the full collection that reclaims what of it is
    garbage (the cycles a load and its refusals leave), which then hardly ever comes: every
    _FULL_COLLECTION_EVERY pauses one is run here (a fuzzer's process loading scenario
    after scenario grew by 0.7 MB an input, past 4 GB).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:  # else someone froze objects to keep them frozen
            gc.freeze()
            gc.unfreeze()
            _pauses[0] += 1
            if _pauses[0] >= _FULL_COLLECTION_EVERY:
                _pauses[0] = 0
                gc.collect()
        if enabled:
            gc.enable()


class NotPlainError(Exception):
    """The document has something the event builder leaves to the composing loader."""


# Past this depth the composing loader decides (it refuses nesting past Python's recursion
# limit); no scenario comes near it.
_MAX_EVENT_DEPTH = 64
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# The implicit tags a plain scalar can take, by its first character, as the loader's
# resolver tries them (`Resolver.resolve`): the tag of the first pattern that matches.
_IMPLICIT: dict[str, list[tuple[str, Any]]] = {
    first: [*resolvers, *_Loader.yaml_implicit_resolvers.get(None, [])]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
    if first is not None
}
_NO_RESOLVERS: list[tuple[str, Any]] = list(_Loader.yaml_implicit_resolvers.get(None, []))
# Whether any of a first character's patterns matches, in one match: most words are text
# (`12.5s`, `u00042`), which no pattern matches.
_ANY_IMPLICIT: dict[str, re.Pattern[str]] = {
    first: re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern in resolvers), re.X)
    for first, resolvers in _IMPLICIT.items()
    if len({pattern.flags for _, pattern in resolvers}) == 1
}


def _plain_value(value: str) -> Any:
    """A plain scalar as the composing loader builds it (see `_IMPLICIT`)."""
    if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
        # What the int pattern matches and no earlier one does, read the quick way.
        if len(value) > MAX_DIGITS:
            raise NotPlainError
        return int(value)
    first = value[:1]
    any_implicit = _ANY_IMPLICIT.get(first)
    if any_implicit is not None and not any_implicit.match(value):
        return value
    for implicit, pattern in _IMPLICIT.get(first, _NO_RESOLVERS):
        if pattern.match(value):
            tag = implicit
            break
    else:
        return value
    if tag == _INT_TAG:
        if value.isdigit() and (value[0] != "0" or value == "0"):
            if len(value) > MAX_DIGITS:
                raise NotPlainError
            return int(value)
        if _too_large(value):
            raise NotPlainError
        return _INTS.construct_yaml_int(ScalarNode(tag, value))
    if tag == _NULL_TAG:
        return None
    if tag == _BOOL_TAG:
        return _INTS.bool_values[value.lower()]
    if tag == _FLOAT_TAG:
        return _INTS.construct_yaml_float(ScalarNode(tag, value))
    if tag == _TIMESTAMP_TAG:
        return _INTS.construct_yaml_timestamp(ScalarNode(tag, value))
    raise NotPlainError  # `<<` merges, `=`: the composing loader handles them


# A flow mapping that is a whole line, as a sequence item or a mapping's value, of plain
# words, double-quoted text (printable ASCII, no escapes) and lists of plain words only:
# `  - {at: 5m, user: u00001, action: open, db: apps/a.nsf}`, `  u1: {name: "CN=U/O=A"}`,
# `  - {at: 9m, action: mail, from: u1, to: [u2, u3]}`. No character in it can start or
# end anything else (a comment, an anchor, a tag, another collection, an escape), so it
# is one mapping of these keys and values wherever YAML allows a value there; other
# nested collections are left to libyaml.
# Every repeat is possessive (`*+`) and the value's choice atomic (`(?>…)`): what ends
# each part (a `:`, a `, `, a closing bracket or quote) is never in it, so giving some of
# it back could not match, and not keeping the places to give back from took a quarter of
# the time of matching the lines of a big script.
_FLOW_KEY = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}+"
_FLOW_PLAIN = r"[A-Za-z0-9_./+=][A-Za-z0-9_./+=@-]*+(?: ++[A-Za-z0-9_./+=@-]++)*+"
_FLOW_QUOTED = r'"[ !#-\[\]-~]*+"'
_FLOW_LIST = rf"\[{_FLOW_PLAIN}(?:, {_FLOW_PLAIN})*+\]"
_FLOW_VALUE = f"(?>{_FLOW_PLAIN}|{_FLOW_QUOTED}|{_FLOW_LIST})"
# Groups: what comes before the mapping, the key it is the value of (none for an item),
# the mapping's entries.
_FLOW_LINE = re.compile(
    r"( *+(?:- |([A-Za-z0-9_][A-Za-z0-9_./-]*+): ))"
    rf"\{{({_FLOW_KEY}: {_FLOW_VALUE}(?:, {_FLOW_KEY}: {_FLOW_VALUE})*+)\}}"
).fullmatch
# The entries' words: those of a line of plain words only (which hold neither separator)
# split, those of one with quoted text (which may) found one by one.
_FLOW_WORDS = re.compile(r'"[^"]*"|\[[^\]]*\]|[^ ,:"][^,:"]*').findall
# What stands in for the flow lines in the text libyaml is given: a plain word of a
# prefix the file does not hold, on the first line of a run of them (the others left
# blank, so that every line keeps its number).
_STAND_IN = "_billsim_flow_"
# Line breaks other than \n (libyaml counts them as lines too): no flow lines are read.
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")


_new_dict = dict.__new__


class _Resolved(dict[str, Any]):
    """Plain words and quoted texts (with their quotes) -> their values, each read once:
    scenarios repeat their words (keys, actions, user keys) and numbers many times."""

    def __missing__(self, text: str) -> Any:
        value = self[text] = text[1:-1] if text[:1] == '"' else _plain_value(text)
        return value


class _Items(list[Any]):
    """A run of flow lines that are items of one sequence: the mappings, and `lines`."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[int] = []


class _Entries(list[tuple[Any, Any, int]]):
    """A run of flow lines that are entries of one mapping, after its first (whose key
    libyaml reads): (key, mapping, line) each; `first` is the first entry's mapping."""

    def __init__(self, first: LinedDict) -> None:
        super().__init__()
        self.first = first


def _flow_list(word: str, line: int, value_of: Callable[[str], Any]) -> Any:
    """A word of a flow line: a list of plain words (`[u2, u3]`, a new list each time:
    lists are not shared), else the value `value_of` reads."""
    if word[:1] != "[":
        return value_of(word)
    items = LinedList(line)
    items.extend(map(value_of, word[1:-1].split(", ")))
    items.lines = [line] * len(items)
    return items


def _flow_lines(text: str, resolved: _Resolved) -> str:
    """`text` with its flow lines (`_FLOW_LINE`) read here, as the events would build
    them, and left out: each run of them (lines one after another, at one indent, of
    one kind) is one stand-in word on its first line, which `resolved` maps to the run.

    libyaml makes a Python object of every event (and two of its marks), about a
    microsecond each: a big script's lines are nine events each. The lines of a run
    are of one collection, since they follow one another at one indent; the stand-in
    keeps the first one's `- ` or key, so that libyaml still finds any error in where
    the run stands. A line whose words do not read as plain values (a date that does
    not exist, a number too long, `=`) or whose keys repeat is left as written.
    """
    # `in`, one character at a time: a regex's character class took 40 times as long.
    if _STAND_IN in text or any(line_break in text for line_break in _OTHER_BREAKS):
        return text
    lines = text.split("\n")
    runs = 0
    run: Any = None  # the current run: _Items, _Entries or None
    run_prefix = ""  # what comes before the mapping on the run's lines (for _Entries: indent)
    value_of = resolved.__getitem__
    for index, line in enumerate(lines):
        if line[-1:] != "}" or (match := _FLOW_LINE(line)) is None:
            run = None
            continue
        inner = match[3]
        number = index + 1
        mapping = _new_dict(LinedDict)  # LinedDict.__init__'s call is a third of the line
        pairs: Iterator[Any]
        if "[" in inner:
            words = _FLOW_WORDS(inner)
            pairs = (_flow_list(word, number, value_of) for word in words)
        elif '"' in inner:
            words = _FLOW_WORDS(inner)
            pairs = map(value_of, words)
        else:
            words = inner.replace(": ", ", ").split(", ")
            pairs = map(value_of, words)
        try:
            mapping.update(zip(pairs, pairs, strict=True))  # key, value, key, value, …
            key = None if match[2] is None else value_of(match[2])
        except (NotPlainError, ValueError, OverflowError):
            run = None
            continue
        if 2 * len(mapping) != len(words):
            run = None
            continue  # a key repeats: the events' builder refuses it, by name and line
        mapping.line = number
        mapping.lines = dict.fromkeys(mapping, number)
        prefix = match[1]
        if key is None:
            if type(run) is _Items and prefix == run_prefix:
                run.append(mapping)
                run.lines.append(number)
                lines[index] = ""
                continue
            run = _Items()
            run.append(mapping)
            run.lines.append(number)
            run_prefix = prefix
        else:
            indent = prefix[: len(prefix) - len(prefix.lstrip(" "))]
            if type(run) is _Entries and indent == run_prefix:
                run.append((key, mapping, number))
                lines[index] = ""
                continue
            run = _Entries(mapping)
            run_prefix = indent
        stand_in = f"{_STAND_IN}{runs}"
        runs += 1
        resolved[stand_in] = run
        lines[index] = prefix + stand_in
    return "\n".join(lines) if runs else text


def _load_from_events(text: str) -> Any:
    """`load_composed`'s result for a document with no anchor, alias, tag, complex key or
    duplicate key, built from the parser's events without a node tree; raises NotPlainError
    for any other document and the parser's error for bad YAML.

    Lines are the events' start marks, the same marks the composed nodes carry. Its flow
    lines are read without libyaml (`_flow_lines`).
    """
    resolved = _Resolved()
    text = _flow_lines(text, resolved)
    flows = bool(resolved)
    parser = _Loader(text)
    try:
        next_event = parser.get_event
        next_event()  # the stream's start
        event = next_event()
        if type(event) is StreamEndEvent:
            return None
        if type(event) is not DocumentStartEvent:
            raise NotPlainError
        root: Any = None
        # The collections open around the event: the one being filled is `into` (its
        # `lines` too, and whether it is a mapping); a mapping's key waits in `key` for
        # its value while `has_key`. A scalar's line is read only where it is kept.
        stack: list[tuple[Any, Any, bool]] = []
        into: Any = None
        lines: Any = None
        in_mapping = False
        key: Any = None
        has_key = False
        while True:
            event = next_event()
            kind = type(event)
            if kind is ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise NotPlainError
                value = event.value
                if event.implicit[0]:
                    # Scenarios repeat their plain words (keys, actions, user keys) and
                    # numbers many times: each is resolved once. The values are immutable
                    # (but for the flow lines' mappings, each of which is used once).
                    plain = value
                    value = resolved.get(plain, resolved)
                    if value is resolved:
                        if flows and _STAND_IN in plain:
                            raise NotPlainError  # a flow line was inside a longer scalar
                        value = resolved[plain] = _plain_value(plain)
                elif flows and _STAND_IN in value:
                    raise NotPlainError  # a flow line was text in a quoted or block scalar
                run = type(value)
                if in_mapping:
                    if has_key:
                        has_key = False
                        if run is _Entries:
                            into[key] = value.first
                            for key, value, line in value:  # noqa: B020 - done with both
                                if key in into:
                                    raise NotPlainError  # a duplicate, named by the composer
                                into[key] = value
                                lines[key] = line
                            continue
                        if run is _Items:
                            raise NotPlainError  # never so: a run of items follows a `- `
                        into[key] = value
                    else:
                        if run is _Items or run is _Entries or value in into:
                            raise NotPlainError  # a duplicate: the composing loader names it
                        lines[value] = event.start_mark.line + 1
                        key = value
                        has_key = True
                elif into is not None:
                    if run is _Items:
                        into.extend(value)
                        lines.extend(value.lines)
                    elif run is _Entries:
                        raise NotPlainError  # never so: a run of entries follows a key
                    else:
                        into.append(value)
                        lines.append(event.start_mark.line + 1)
                elif run is _Items or run is _Entries:
                    raise NotPlainError
                else:
                    root = value  # the document is one scalar
                    break
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise NotPlainError
                line = event.start_mark.line + 1
                value = LinedDict(line) if kind is MappingStartEvent else LinedList(line)
                if in_mapping:
                    if not has_key:
                        raise NotPlainError  # a list or mapping as a key
                    into[key] = value
                elif into is not None:
                    into.append(value)
                    lines.append(line)
                if len(stack) >= _MAX_EVENT_DEPTH:
                    raise NotPlainError
                stack.append((into, key, in_mapping))
                into = value
                lines = value.lines
                in_mapping = kind is MappingStartEvent
                has_key = False
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                done = into
                into, key, in_mapping = stack.pop()
                has_key = False
                if into is None:
                    root = done
                    break
                lines = into.lines
            else:
                raise NotPlainError  # an alias
        if type(next_event()) is not DocumentEndEvent or type(next_event()) is not StreamEndEvent:
            raise NotPlainError  # a second document
        return root
    finally:
        parser.dispose()


def load_composed(text: str, filename: str) -> Any:
    """`load_yaml` through the node tree: refuses what YAML and this loader refuse."""
    loader = _Loader(text)
    loader.filename = filename
    node: yaml.Node | None = None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_alias_expansion(node, filename)
        _check_numbers(node, filename)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if isinstance(exc, ConstructorError) and "recursive" in problem:
            problem = "an alias may not refer to a node that contains it"
        raise InputError(
            f"invalid YAML: {problem}",
            file=filename,
            line=None if mark is None else int(mark.line) + 1,
        ) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a NUL, another control character): its line.
        what = (
            "a NUL character"
            if exc.character in (0, "\0")
            else f"character {quoted(exc.character)}"
        )
        raise InputError(
            f"invalid YAML: {what} is not allowed in YAML text",
            file=filename,
            line=_line_at(text, exc.position),
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=filename) from None
    except (ValueError, OverflowError) as exc:
        # A scalar YAML reads as a date or time that is no such thing (2026-13-45): its line.
        line = _bad_timestamp_line(loader, node)
        problem = (
            "a date or time that does not exist (quote it to keep it as text)"
            if line is not None
            else f"a value that cannot be built: {quoted(str(exc))}"
        )
        raise InputError(f"invalid YAML: {problem}", file=filename, line=line) from None
    except RecursionError:
        raise InputError(
            "invalid YAML: nested too deeply (lists and mappings inside one another)",
            file=filename,
        ) from None
    finally:
        loader.dispose()


def _bad_timestamp_line(loader: _Loader, root: yaml.Node | None) -> int | None:
    """The line of the first timestamp scalar under `root` that PyYAML cannot build."""
    pending = [] if root is None else [root]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:timestamp":
                try:
                    loader.construct_yaml_timestamp(node)
                except (ValueError, OverflowError):
                    return int(node.start_mark.line) + 1
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                pending.extend((value, key))
    return None


def read_yaml(path: str | Path) -> Any:
    """`load_yaml` of a UTF-8 file, named in errors as the caller spelled its path."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=filename) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=filename) from None
    return load_yaml(text, filename)


def line_of(doc: Any, path: Sequence[Any]) -> int | None:
    """The line of the entry at `path` (keys and indexes), or of the deepest part of it present.

    Falling back to the nearest enclosing entry is what lets an error about a missing
    field point at the mapping it is missing from.
    """
    line: int | None = doc.line if isinstance(doc, LinedDict | LinedList) else None
    node = doc
    for part in path:
        if isinstance(node, LinedDict):
            try:
                if part not in node:
                    break
            except TypeError:
                break
            line = node.lines[part]
            node = node[part]
        elif (
            isinstance(node, LinedList)
            and isinstance(part, int)
            and not isinstance(part, bool)
            and 0 <= part < len(node)
        ):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line
