"""`billsim header`: the C header of a scenario's custom types (docs/scenario.md, docs/cli.md).

Sizes and offsets expected here are worked out by hand from C's layout rules (natural
alignment, or none under pack(1)); gcc then confirms them, and the codec must agree.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cbuild import CFLAGS, LAYOUT_MACROS, QUEUE_DIR, compile_c, gcc, parse_lines, run_c
from typer.testing import CliRunner

from simulator import cli
from simulator.commands.header import scenario_header
from simulator.scenario.loader import load_scenario, load_scenario_text
from simulator.scenario.models import Scenario
from simulator.wire.cheader import guard_macro
from simulator.wire.layout import Layout, compile_fields

REPO = QUEUE_DIR.parent
runner = CliRunner()

HEAD = """\
name: {name}
description: {description}
start: "2026-11-21T09:00:00Z"
duration: 10m
server: CN=Mail01/O=Acme
"""

# Every C type a custom field may have, placed so that natural alignment pads.
EVERY_TYPE = """\
custom_types:
  ALLTYPES:
    struct_type: 40000
    class: HttpRequest
    fields:
      - [c1, "char[1]"]
      - [n, NUMBER]
      - [w, WORD]
      - [t, TIMEDATE]
      - [c3, "char[3]"]
      - [u, UNID]
      - [w2, WORD]
      - [o, OID]
      - [d, DWORD]
      - [id, NOTEID]
      - [db, DBID]
      - [c2, "char[2]"]
  SMALL: {struct_type: 65535, class: Session, fields: [[only, WORD]]}
"""
# By hand. Natural: c1@0, n@8 (align 8), w@16, t@20 (align 4), c3@28, u@32, w2@48,
# o@52, d@80, id@84, db@88, c2@96, end 98 -> sizeof 104 (a multiple of 8).
# Packed: one after another: 0, 1, 9, 11, 19, 22, 38, 40, 68, 72, 76, 84 -> 86.
EVERY_TYPE_LAYOUT = {
    Layout.LINUX_X86_64: (
        [0, 8, 16, 20, 28, 32, 48, 52, 80, 84, 88, 96],
        104,
    ),
    Layout.WIN32: ([0, 1, 9, 11, 19, 22, 38, 40, 68, 72, 76, 84], 86),
}
FIELD_NAMES = ["c1", "n", "w", "t", "c3", "u", "w2", "o", "d", "id", "db", "c2"]


def scenario_of(text: str, name: str = "every-type", description: str = "All C types.") -> Scenario:
    quoted = HEAD.format(name=json.dumps(name), description=json.dumps(description))
    return load_scenario_text(quoted + text, "t.yaml")


def write_header(tmp_path: Path, scenario: Scenario, filename: str = "custom.h") -> Path:
    path = tmp_path / filename
    path.write_text(scenario_header(scenario, "t.yaml"))
    return path


def layout_program(tmp_path: Path, header: str, types: dict[str, list[str]]) -> Path:
    """A C program printing sizeof and offsetof of the given types' fields (name=value)."""
    lines = [
        "#include <stdio.h>",
        f'#include "{header}"',
        "int main(void) {",
    ]
    for type_name, fields in types.items():
        lines.append(f'    printf("{type_name}.sizeof=%zu\\n", sizeof({type_name}));')
        lines += [
            f'    printf("{type_name}.{f}=%zu\\n", offsetof({type_name}, {f}));' for f in fields
        ]
        lines.append(f'    printf("BILL_{type_name}=%ld\\n", (long)BILL_{type_name});')
        lines.append(
            f'    printf("BILLSIM_{type_name}_CLASS=%ld\\n", (long)BILLSIM_{type_name}_CLASS);'
        )
    lines += ["    return 0;", "}", ""]
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines))
    return source


# --- the bundled notecreate scenario: BILLMNGR's NOTECREATEREC ---------------------------------


def test_notecreate_header_declares_billmngrs_record() -> None:
    text = scenario_header(load_scenario(REPO / "scenarios" / "notecreate.yaml"), "x.yaml")
    assert '#include "billmsg.h"' in text
    assert "#define BILL_NOTECREATEREC 32001\n" in text
    assert "#define BILLSIM_NOTECREATEREC_CLASS BILL_CLASS_DATABASE\n" in text
    struct = re.search(r"typedef struct \{\n(.*?)\n\} NOTECREATEREC;", text, re.S)
    assert struct is not None
    members = [line.split("/*")[0].strip() for line in struct[1].splitlines()]
    assert members == ["char Username[257];", "NOTEID dbNoteID;", "DBID ReplicaID;"]
    # bill_ext.h's layout by hand: natural 0/260/264, sizeof 272; packed 0/257/261, 269.
    for offset, field, layout in (
        (260, "dbNoteID", "linux-x86_64"),
        (264, "ReplicaID", "linux-x86_64"),
        (257, "dbNoteID", "win32"),
        (261, "ReplicaID", "win32"),
    ):
        assert (
            f"BILLSIM_LAYOUT_ASSERT(offsetof(NOTECREATEREC, {field}) == {offset}, "
            f'"NOTECREATEREC ({layout})");'
        ) in text
    assert (
        'BILLSIM_LAYOUT_ASSERT(sizeof(NOTECREATEREC) == 272, "NOTECREATEREC (linux-x86_64)");'
        in text
    )
    assert 'BILLSIM_LAYOUT_ASSERT(sizeof(NOTECREATEREC) == 269, "NOTECREATEREC (win32)");' in text
    assert text.startswith("/*\n")
    assert "#ifndef BILLSIM_CUSTOM_NOTECREATE_H\n#define BILLSIM_CUSTOM_NOTECREATE_H\n" in text
    assert text.endswith("#endif /* BILLSIM_CUSTOM_NOTECREATE_H */\n")


def test_billsim_header_command() -> None:
    result = runner.invoke(cli.app, ["header", "notecreate"])
    assert result.exit_code == 0, result.output
    expected = scenario_header(
        load_scenario(REPO / "scenarios" / "notecreate.yaml"), "notecreate.yaml"
    )
    assert result.stdout == expected
    # A file path works as well as a bundled name, and the output is the same but its name.
    by_path = runner.invoke(cli.app, ["header", str(REPO / "scenarios" / "notecreate.yaml")])
    assert by_path.stdout == expected


def test_billsim_header_bad_input_exits_2(tmp_path: Path) -> None:
    missing = runner.invoke(cli.app, ["header", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "no such file, nor a bundled scenario" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        HEAD.format(name="bad", description="x")
        + "custom_types:\n  X: {struct_type: 32001, class: Database, fields: [[int, WORD]]}\n"
    )
    result = runner.invoke(cli.app, ["header", str(bad)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        f"{bad}:7: custom_types.X.fields[0]: not usable as a C field name: "
        "'int' is a C or C++ keyword"
    ) in result.stderr


# --- compiling it -----------------------------------------------------------------------------


@pytest.mark.gcc
@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
def test_every_c_type_compiles_and_gcc_agrees_with_the_codec(
    tmp_path: Path, layout: Layout
) -> None:
    scenario = scenario_of(EVERY_TYPE)
    write_header(tmp_path, scenario)
    source = layout_program(tmp_path, "custom.h", {"ALLTYPES": FIELD_NAMES, "SMALL": ["only"]})
    exe = compile_c([source], tmp_path, layout, include_dirs=[tmp_path])
    values = {key: int(value) for key, value in parse_lines(run_c(exe)).items()}
    offsets, size = EVERY_TYPE_LAYOUT[layout]
    assert values == {
        "ALLTYPES.sizeof": size,
        **{f"ALLTYPES.{name}": offset for name, offset in zip(FIELD_NAMES, offsets, strict=True)},
        "BILL_ALLTYPES": 40000,
        "BILLSIM_ALLTYPES_CLASS": 0x40,
        "SMALL.sizeof": 2,
        "SMALL.only": 0,
        "BILL_SMALL": 65535,
        "BILLSIM_SMALL_CLASS": 0x01,
    }
    kind = next(k for k in scenario.custom_kinds() if k.name == "ALLTYPES")
    compiled = compile_fields(kind.fields, layout)
    assert (list(compiled.offsets.values()), compiled.size) == (offsets, size)


@pytest.mark.gcc
@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
def test_the_headers_asserts_reject_another_layout(tmp_path: Path, layout: Layout) -> None:
    """Compiled with the other layout's packing, the generated checks fail (natural), or
    the header's own #pragma pack(1) wins (win32), as for billmsg.h."""
    write_header(tmp_path, scenario_of(EVERY_TYPE))
    source = tmp_path / "use.c"
    source.write_text(
        '#include "custom.h"\nint main(void) { return (int)sizeof(ALLTYPES) - 86; }\n'
    )
    command = [gcc(), *CFLAGS, *LAYOUT_MACROS[layout], f"-I{QUEUE_DIR}", f"-I{tmp_path}"]
    command.append("-fsyntax-only")
    assert subprocess.run([*command, str(source)], capture_output=True, check=False).returncode == 0
    # billmsg.h's own checks fail too; ours must be among the failures.
    packing = "-fpack-struct=1" if layout is Layout.LINUX_X86_64 else "-fpack-struct=8"
    done = subprocess.run(
        [*command, packing, str(source)], capture_output=True, text=True, check=False
    )
    if layout is Layout.LINUX_X86_64:
        assert done.returncode != 0
        assert "billmsg.h layout: ALLTYPES (linux-x86_64)" in done.stderr
    else:
        assert done.returncode == 0, done.stderr


@pytest.mark.gcc
@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
def test_awkward_scenarios_still_give_a_header_that_compiles(
    tmp_path: Path, layout: Layout
) -> None:
    no_types = scenario_of("", name="no types", description="nothing */ to /* declare")
    text = scenario_header(no_types, "a */ b.yaml")
    assert "no custom types" in text
    assert guard_macro("no types") == "BILLSIM_CUSTOM_NO_TYPES_H"
    odd = scenario_of(
        EVERY_TYPE, name="Ünïcode & co. */", description='"quoted" */ and a\ttab. ' * 10
    )
    (tmp_path / "none.h").write_text(text)
    write_header(tmp_path, odd, "odd.h")
    source = tmp_path / "both.c"
    source.write_text(
        '#include "none.h"\n#include "odd.h"\n#include "odd.h"\n'
        "int main(void) { return BILL_SMALL == 65535 ? 0 : 1; }\n"
    )
    exe = compile_c([source], tmp_path, layout, include_dirs=[tmp_path])
    assert run_c(exe) == b""


@pytest.mark.gcc
@pytest.mark.parametrize("layout", list(Layout), ids=[layout.value for layout in Layout])
def test_the_header_compiles_as_cplusplus_too(tmp_path: Path, layout: Layout) -> None:
    """billmsg.h supports C++ (static_assert): so does the generated header, when g++ is here."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not installed (the C tests need only gcc)")
    write_header(tmp_path, scenario_of(EVERY_TYPE))
    source = tmp_path / "use.cpp"
    source.write_text('#include "custom.h"\nint main() { return sizeof(ALLTYPES) > 0 ? 0 : 1; }\n')
    done = subprocess.run(
        [gxx, "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only",
         *LAYOUT_MACROS[layout], f"-I{QUEUE_DIR}", f"-I{tmp_path}", str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_the_command_is_listed_in_help() -> None:
    result = runner.invoke(cli.app, ["--help"])
    assert result.exit_code == 0
    assert "header" in result.stdout
