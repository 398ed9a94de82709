"""Compile and run small C programs against queue/billmsg.h, for the `gcc` tests.

`compile_c` builds C sources (a test program, a header `billsim header` generated, ...)
with the repository's `queue/` on the include path, under one layout's macros, as
strictly as the header promises to compile. `parse_fields` reads the `name=value`
lines such programs print (tests/c/crosscheck.c's format), and `c_quoted` renders
bytes the way they quote strings.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from simulator.wire.layout import Layout

REPO = Path(__file__).resolve().parents[1]
QUEUE_DIR = REPO / "queue"
C_DIR = Path(__file__).resolve().parent / "c"

CFLAGS = ("-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1")
LAYOUT_MACROS: dict[Layout, tuple[str, ...]] = {
    Layout.LINUX_X86_64: (),
    Layout.WIN32: ("-DBILLSIM_WIN32_LAYOUT",),
}


def gcc() -> str:
    """gcc's path; a missing gcc fails the test (CI installs it), it never skips."""
    path = shutil.which("gcc")
    if path is None:
        pytest.fail("gcc is not installed: the `gcc` tests compile C and need it", pytrace=False)
    return path


def compile_c(
    sources: Sequence[Path],
    tmp_path: Path,
    layout: Layout,
    *,
    name: str | None = None,
    include_dirs: Sequence[Path] = (),
) -> Path:
    """An executable built from `sources` in `tmp_path`, with `queue/` on the include path.

    Fails the test with gcc's messages if the sources do not compile cleanly.
    """
    exe = tmp_path / f"{name or sources[0].stem}-{layout.value}"
    command = [
        gcc(),
        *CFLAGS,
        *LAYOUT_MACROS[layout],
        f"-I{QUEUE_DIR}",
        *(f"-I{directory}" for directory in include_dirs),
        *(str(source) for source in sources),
        "-o",
        str(exe),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{done.stderr}", pytrace=False)
    return exe


def run_c(exe: Path, *args: str, stdin: bytes = b"") -> bytes:
    """The program's stdout; fails the test with its stderr if it exits non-zero."""
    done = subprocess.run([str(exe), *args], input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"{exe.name} {' '.join(args)} exited {done.returncode}:\n"
            f"{done.stderr.decode(errors='replace')}\n{done.stdout.decode(errors='replace')[-2000:]}",
            pytrace=False,
        )
    return done.stdout


def c_quoted(data: bytes) -> str:
    """Bytes as the C programs print a string: quoted; `"`, `\\` and non-printables as \\xHH."""
    return (
        '"'
        + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in data)
        + '"'
    )


def parse_fields(output: bytes) -> list[dict[str, str]]:
    """`name=value` lines, grouped into one dict per frame at each `frame=` line."""
    frames: list[dict[str, str]] = []
    for line in output.decode("ascii").splitlines():
        name, sep, value = line.partition("=")
        assert sep, f"not a name=value line: {line!r}"
        if name == "frame":
            frames.append({})
        assert frames, f"a field before the first frame= line: {line!r}"
        assert name not in frames[-1], f"{name} printed twice in one frame"
        frames[-1][name] = value
    return frames


def parse_lines(output: bytes) -> dict[str, str]:
    """`name=value` lines of a program that prints no frames (e.g. `crosscheck layout`)."""
    fields: dict[str, str] = {}
    for line in output.decode("ascii").splitlines():
        name, sep, value = line.partition("=")
        assert sep, f"not a name=value line: {line!r}"
        fields[name] = value
    return fields
