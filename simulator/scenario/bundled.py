"""The scenarios shipped with billsim, found by name."""

from __future__ import annotations

import stat
from pathlib import Path

from simulator.errors import InputError

# The `simulator` package: wheels carry the scenarios in it (pyproject force-include).
_PACKAGE = Path(__file__).resolve().parents[1]


def scenarios_dir() -> Path:
    """Installed wheels carry them in the package; a source checkout has them beside it."""
    installed = _PACKAGE / "_scenarios"
    return installed if installed.is_dir() else _PACKAGE.parent / "scenarios"


def bundled_scenarios() -> dict[str, Path]:
    return {path.stem: path for path in sorted(scenarios_dir().glob("*.yaml"))}


def resolve_scenario(name_or_path: str) -> Path:
    """A path if one exists there, else a bundled scenario's name.

    Raises InputError naming what is at the path when it is no regular file (a directory,
    a FIFO, …) or cannot be reached, and only otherwise "no such file".
    """
    if not name_or_path.strip():
        # Path("") is the current directory: an empty argument is no name at all.
        names = ", ".join(bundled_scenarios()) or "none"
        raise InputError(f"an empty name: give a scenario file or a bundled name ({names})")
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled = bundled_scenarios()
    found = bundled.get(name_or_path.removesuffix(".yaml"))
    if found is not None:
        return found
    problem = not_a_file(path)
    if problem is not None:
        raise InputError(problem, file=name_or_path)
    names = ", ".join(bundled) or "none"
    raise InputError(f"no such file, nor a bundled scenario (bundled: {names})", file=name_or_path)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (a named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as a scenario file although something is there, or None
    when nothing is (so the caller may say "no such file")."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        # `a.yaml/b.yaml`: name the part of the path that is a file.
        for parent in reversed(path.parents):
            if parent.is_file():
                return f"no such file: {parent} is a file, not a directory"
        return "no such file: a part of the path is not a directory"
    except OSError as error:
        return f"cannot read: {error.strerror or error}"
    for is_kind, kind in _KINDS:
        if is_kind(mode):
            return f"is {kind}, not a scenario file"
    return None
