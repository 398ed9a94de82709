"""Safe YAML loading that remembers the line of every entry, so errors can name `file:line`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from simulator.errors import InputError

_MERGE_TAG = "tag:yaml.org,2002:merge"


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
                f"duplicate key {key!r} (first at line {first})",
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


def load_yaml(text: str, filename: str) -> Any:
    """The one document in `text` (None if empty); mappings and sequences carry their lines."""
    loader = _Loader(text)
    loader.filename = filename
    try:
        return loader.get_single_data()
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
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=filename) from None
    finally:
        loader.dispose()


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
