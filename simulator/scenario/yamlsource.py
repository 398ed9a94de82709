"""Safe YAML loading that remembers the line of every entry, so errors can name `file:line`."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
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

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.lines: dict[Any, int] = {}


class LinedList(list[Any]):
    """A YAML sequence: `line` is where it starts, `lines[i]` where item `i` starts."""

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
        except (NotPlainError, yaml.YAMLError, ValueError, OverflowError):
            pass  # the composing loader decides what it is
        return load_composed(text, filename)


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: building a big scenario makes a million objects
    that all live on, and each collection triggered on the way walks all of them again
    (two thirds of the time a 3 MB scenario took to load). Reference counting still frees
    everything else.

    What was made inside then goes straight to the oldest generation (frozen and thawed:
    no walk), so the young collections after it do not walk it all twice to get it there;
    a full collection still reclaims what of it is garbage.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:  # else someone froze objects to keep them frozen
            gc.freeze()
            gc.unfreeze()
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


def _plain_value(value: str) -> Any:
    """A plain scalar as the composing loader builds it (see `_IMPLICIT`)."""
    for implicit, pattern in _IMPLICIT.get(value[:1], _NO_RESOLVERS):
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


def _load_from_events(text: str) -> Any:
    """`load_composed`'s result for a document with no anchor, alias, tag, complex key or
    duplicate key, built from the parser's events without a node tree; raises NotPlainError
    for any other document and the parser's error for bad YAML.

    Lines are the events' start marks, the same marks the composed nodes carry.
    """
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
        resolved: dict[str, Any] = {}
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
                    # numbers many times: each is resolved once. The values are immutable.
                    plain = value
                    value = resolved.get(plain, resolved)
                    if value is resolved:
                        value = resolved[plain] = _plain_value(plain)
                if in_mapping:
                    if has_key:
                        into[key] = value
                        has_key = False
                    else:
                        if value in into:
                            raise NotPlainError  # a duplicate: the composing loader names it
                        lines[value] = event.start_mark.line + 1
                        key = value
                        has_key = True
                elif into is not None:
                    into.append(value)
                    lines.append(event.start_mark.line + 1)
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
