"""YAML loading keeps every entry's line, and bad YAML names file and line."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import assert_same_yaml
from paths import REPO

from simulator.errors import InputError
from simulator.scenario import yamlsource
from simulator.scenario.yamlsource import LinedDict, LinedList, line_of, load_yaml, read_yaml

DOC = """\
name: demo
databases:
  apps/orders.nsf:
    replica_id: "85258A3B:0052C1F1"
    documents: {0x2306: {charge_read: 0.05}}
script:
  - {at: 0m, action: open}
  -
    at: 5m
    action: edit
"""


def test_lines_of_entries_and_items() -> None:
    doc = load_yaml(DOC, "demo.yaml")
    assert isinstance(doc, LinedDict)
    assert doc.line == 1
    assert doc.lines == {"name": 1, "databases": 2, "script": 6}
    assert line_of(doc, ["databases", "apps/orders.nsf"]) == 3
    assert line_of(doc, ["databases", "apps/orders.nsf", "replica_id"]) == 4
    assert line_of(doc, ["databases", "apps/orders.nsf", "documents", 0x2306]) == 5
    assert line_of(doc, ["script", 0]) == 7
    assert line_of(doc, ["script", 1]) == 9  # a block item starts at its first key
    assert line_of(doc, ["script", 1, "action"]) == 10
    assert isinstance(doc["script"], LinedList)


@pytest.mark.parametrize(
    "path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda path: path.name
)
def test_a_bundled_scenario_is_built_from_events_as_the_composing_loader_builds_it(
    path: Path,
) -> None:
    text = path.read_text(encoding="utf-8")
    assert_same_yaml(yamlsource._load_from_events(text), yamlsource.load_composed(text, "s"))


PLAIN_SCALARS = """\
words: [x, "yes", 'no', yes, No, ON, off, ~, null, Null, "", '~']
numbers: [0, -0, +12, 1_000, 0x1F, 0o17, 017, 0b101, 1:30, "12", 12e3]
floats: [1.5, -.5, 1e3, 1.0e+3, .inf, -.Inf, .NaN, 6.8523015e+5, 1_000.5, 190:20:30.15]
times: [2026-11-23, 2026-11-23T08:00:00Z, 2026-11-23 08:00:00.5 +01:00, "2026-11-23"]
keys: {1: a, 0x10: b, false: c, ~: d, 2.5: e, 2026-01-01: f, "1": g}
empty:
block: |
  two
  lines
folded: >-
  one
  line
quoted: "tab\there \u00e9 \x41"
flow: {a: [1, {b: [], c: {}}], d: [[[]]]}
"""


def test_plain_scalars_read_as_the_composing_loader_reads_them() -> None:
    built = yamlsource._load_from_events(PLAIN_SCALARS)
    assert_same_yaml(built, yamlsource.load_composed(PLAIN_SCALARS, "s"))
    assert built["numbers"][:4] == [0, 0, 12, 1000]
    assert built["words"][3:5] == [True, False]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "a: !!str 1\n",  # tags
        "base: {x: 1}\nuse: {<<: {x: 2}}\n",  # a merge key
        "? [x]\n: 1\n",  # a complex key
        "a: 1\na: 2\n",  # a duplicate key
        "a: 1\n---\nb: 2\n",  # two documents
        "seed: " + "1" * 39 + "\n",  # a whole number too long
        "seed: 0x" + "f" * 36 + "\n",
        "at: 2026-13-45\n",  # no such date
        "v: =\n",  # YAML's value key
        "a: " + "[" * 100 + "]" * 100 + "\n",  # deeper than the event builder goes
    ],
)
def test_what_the_event_builder_leaves_to_the_composing_loader(text: str) -> None:
    with pytest.raises((yamlsource.NotPlainError, ValueError)):
        yamlsource._load_from_events(text)


def test_loading_leaves_the_garbage_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    load_yaml("a: 1\n", "f.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        load_yaml("a: 1\n", "f.yaml")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_missing_path_falls_back_to_nearest_entry() -> None:
    doc = load_yaml(DOC, "demo.yaml")
    assert line_of(doc, ["script", 1, "user"]) == 9
    assert line_of(doc, ["script", 7, "user"]) == 6
    assert line_of(doc, ["nope"]) == 1
    assert line_of(doc, []) == 1
    assert line_of(None, ["a"]) is None


def test_plain_values_are_plain_python() -> None:
    doc = load_yaml("a: [1, 2.5, x, null, true]\nb: 0x10\n", "f.yaml")
    assert doc == {"a": [1, 2.5, "x", None, True], "b": 16}


def test_empty_document_is_none() -> None:
    assert load_yaml("", "f.yaml") is None
    assert load_yaml("# only a comment\n", "f.yaml") is None


def test_duplicate_key_names_second_line() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "dup.yaml")
    assert str(caught.value) == "dup.yaml:4: duplicate key 'c' (first at line 3)"


def test_duplicate_key_in_flow_mapping() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("x: 0\nscript:\n  - {at: 1m, at: 2m}\n", "dup.yaml")
    assert caught.value.file == "dup.yaml"
    assert caught.value.line == 3
    assert "duplicate key 'at'" in caught.value.message


def test_merge_key_may_be_overridden() -> None:
    doc = load_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n", "m.yaml")
    assert doc["use"] == {"x": 1, "y": 3}


def test_syntax_error_names_file_and_line() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml")
    assert caught.value.file == "bad.yaml"
    assert caught.value.line is not None and caught.value.line >= 2
    assert str(caught.value).startswith(f"bad.yaml:{caught.value.line}: invalid YAML: ")


def test_bad_indentation_names_line() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("a: 1\n b: 2\n", "bad.yaml")
    assert caught.value.line == 2


def test_unhashable_key() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("a: 1\n? [x, y]\n: 2\n", "bad.yaml")
    assert caught.value.line == 2


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("a: &x [*x]\n", "bad.yaml")
    assert caught.value.file == "bad.yaml"


def test_unsafe_tags_are_refused() -> None:
    with pytest.raises(InputError):
        load_yaml("a: !!python/object/apply:os.system [echo hi]\n", "evil.yaml")


def test_two_documents_are_an_error() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("a: 1\n---\nb: 2\n", "two.yaml")
    assert caught.value.line == 2


def test_read_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("\ufeffa: 1\n", encoding="utf-8")
    assert read_yaml(path) == {"a": 1}
    with pytest.raises(InputError) as caught:
        read_yaml(tmp_path / "missing.yaml")
    assert caught.value.file == str(tmp_path / "missing.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"a: \xe9\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_yaml(tmp_path / "latin.yaml")


# --- hostile YAML: refused with a line, never a hang or a traceback ---------------------------


def _alias_bomb(levels: int, width: int = 9) -> str:
    lines = ["name: bomb", 'a0: &a0 ["lol"' + ', "lol"' * (width - 1) + "]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    lines.append(f"duration: *a{levels}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_line_that_expands_it() -> None:
    """Nine levels of `[*a, *a, …]` would be 9^9 values: refused at once, naming the
    first level whose expansion passes the limit, without building any of it."""
    with pytest.raises(InputError) as caught:
        load_yaml(_alias_bomb(9), "bomb.yaml")
    # a5 (line 7) holds 9^6 = 531,441 values: the first level over 100,000.
    assert str(caught.value) == (
        "bomb.yaml:7: invalid YAML: aliases here repeat more than 100,000 values "
        "(nested aliases that expand like this are refused)"
    )


def test_aliases_that_repeat_little_are_fine() -> None:
    doc = load_yaml(_alias_bomb(3), "small.yaml")
    assert len(doc["duration"]) == 9 and len(doc["duration"][0][0]) == 9
    merged = load_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", "m.yaml")
    assert merged["other"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("1" * 4301, "seed"),  # past Python's 4,300-digit limit on int(text)
        ("1" * 39, "seed"),
        ("-" + "9" * 40, "seed"),
        ("0x" + "f" * 200, "seed"),
        ("1_000" * 20, "seed"),
    ],
)
def test_a_whole_number_too_long_for_any_field_names_line_and_field(value: str, field: str) -> None:
    with pytest.raises(InputError) as caught:
        load_yaml(f"name: n\nseed: {value}\n", "n.yaml")
    assert str(caught.value) == (
        f"n.yaml:2: {field}: a whole number of more than 38 digits: too large for any field"
    )


def test_a_number_in_a_list_names_its_index() -> None:
    with pytest.raises(InputError, match=r"^n\.yaml:3: script\[1\]\.at: a whole number"):
        load_yaml("script:\n  - {at: 1}\n  - {at: " + "7" * 50 + "}\n", "n.yaml")


def test_thirty_eight_digits_are_a_number() -> None:
    assert load_yaml("seed: " + "9" * 38 + "\n", "n.yaml") == {"seed": int("9" * 38)}


def test_a_nul_character_names_its_line() -> None:
    with pytest.raises(InputError) as caught:
        load_yaml("name: x\nduration: 1h\nserver: a\x00b\n", "nul.yaml")
    assert (
        str(caught.value) == "nul.yaml:3: invalid YAML: a NUL character is not allowed in YAML text"
    )


def test_deep_nesting_is_bad_input() -> None:
    with pytest.raises(InputError, match=r"^deep\.yaml(:\d+)?: invalid YAML: "):
        load_yaml("name: " + "[" * 50_000 + "]" * 50_000 + "\n", "deep.yaml")


def test_a_date_that_does_not_exist_is_bad_input_at_its_line() -> None:
    # YAML reads 2026-13-45T99:00:00Z as a timestamp; building it raised ValueError.
    with pytest.raises(InputError) as caught:
        load_yaml(
            'name: demo\nstart: "2026-11-21T09:00:00Z"\nnote: 2026-13-45T99:00:00Z\n', "s.yaml"
        )
    assert caught.value.line == 3
    assert "a date or time that does not exist" in str(caught.value)


FLOW_LINES = """\
users:
  u1: {name: "CN=User One/O=Acme", address: "10.0.0.1"}
  u2: {name: "CN=User Two/O=Acme", address: "10.0.0.2", yes: 0x10}

  u3: {name: CN=Three/O=Acme}
script:
  - {at: 1.5s, user: u1, action: open, db: apps/a.nsf, bytes_in: 400}
  - {at: 2m, user: u1, action: read, note_id: 0x2306, db: apps/a.nsf}
  # a comment ends a run
  - {at: 3m, user: u2, action: transfer, bytes_out: 017}
  - {at: 4m, action: mail, from: u1, to: [u2, u3], size: 1000}
  - {at: 4m, action: replicate, databases: [{db: apps/a.nsf}]}
  - {at: 5m, action: agent, agent: Nightly  cleanup, signer: u1, flags: [public, mail]}
later:
- {at: 6m, user: u3, action: logout}
"""


def test_flow_lines_are_read_as_the_composing_loader_reads_them() -> None:
    resolved = yamlsource._Resolved()
    rest = yamlsource._flow_lines(FLOW_LINES, resolved)
    assert rest.count("\n") == FLOW_LINES.count("\n")  # every line keeps its number
    # Runs: the users' (a blank line ends one), the script's (a comment and a line left
    # to libyaml end one) and the later one.
    assert rest.count(yamlsource._STAND_IN) == 6
    built = yamlsource._load_from_events(FLOW_LINES)
    assert_same_yaml(built, yamlsource.load_composed(FLOW_LINES, "s"))
    assert built["script"].lines == [7, 8, 10, 11, 12, 13]
    assert built["script"][3]["to"].lines == [11, 11]
    assert built["users"]["u2"] == {"name": "CN=User Two/O=Acme", "address": "10.0.0.2", True: 16}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a:\n  b: {x: 1}\n  c: {x: 2}\n  b: {x: 3}\n", 4, "duplicate key 'b' (first at line 2)"),
        ("a:\n  b: 1\n  c: {x: 2}\n  b: {x: 3}\n", 4, "duplicate key 'b' (first at line 2)"),
        ("s:\n  - {x: 1, y: 2, x: 3}\n", 2, "duplicate key 'x'"),
        ("s: [\n  - {x: 1}\n  - {x: 2}\n]\n", 2, "invalid YAML"),
        ("s:\n  - {x: 1}\n   - {x: 2}\n", 3, "invalid YAML"),
    ],
)
def test_errors_around_flow_lines_name_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_yaml(text, "f.yaml")
    assert caught.value.line == line
    assert message in caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        "a: |\n  - {x: 1}\n  - {x: 2}\n",  # text of a block scalar
        'a: "one\n  - {x: 1}\n  - {x: 2}\n  two"\n',  # of a quoted scalar over lines
        "a: one\n  - {x: 1}\n",  # of a plain scalar over lines (an error)
        "a:\n  b: {x: _billsim_flow_0}\n",  # the stand-ins' prefix written in the file
        "a:\r\n  - {x: 1}\r\n",  # other line breaks
    ],
)
def test_flow_lines_that_are_not_values_are_read_as_written(text: str) -> None:
    outcomes = []
    for read in (load_yaml, yamlsource.load_composed):
        try:
            outcomes.append(read(text, "f.yaml"))
        except InputError as error:
            outcomes.append(str(error))
    assert_same_yaml(*outcomes)


def test_validating_again_and_again_keeps_the_garbage_it_leaves_bounded() -> None:
    """paused_gc moves what a load and a dry run made to the oldest generation unwalked,
    where the cycles they leave (245 objects a validation of all-classes) were never
    collected: the fuzzer's process, validating scenario after scenario, grew by 0.7 MB an
    input, past 4 GB. Every so many pauses it collects them. In a process of its own: the
    suite's in-process add-in runs freeze objects and raise the collector's threshold."""
    code = (
        "import gc, sys\n"
        "sys.path[:0] = [sys.argv[1]]\n"
        "from hostile import scenario_loader_target\n"
        "from simulator.scenario.bundled import bundled_scenarios\n"
        "data = bundled_scenarios()['all-classes'].read_bytes()\n"
        "gc.collect()\n"
        "for _ in range(300):\n"
        "    scenario_loader_target(data)  # what validate does: load, then the dry run\n"
        "print(gc.collect())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "tests")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert int(done.stdout) < 20_000  # 73,500 when nothing collected them
