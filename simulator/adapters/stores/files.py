"""The file of an SQLite or NBF store: checked before a store opens or reads it, so that a
wrong path is named as such rather than failing deep in sqlite3 or open()."""

from __future__ import annotations

from pathlib import Path

from simulator.errors import InputError


def check_store_file(path: Path, kind: str, *, create: bool) -> None:
    """InputError naming `path` if it cannot be the file of a `kind` store (`SQLite`,
    `NBF`): a directory; when read (not `create`), no file; when created, one in no
    directory."""
    if path.is_dir():
        raise InputError(f"is a directory, not an {kind} store", file=str(path))
    if not create:
        if not path.is_file():
            raise InputError(f"no such {kind} store", file=str(path))
        return
    if not path.exists() and not path.parent.is_dir():
        what = "is not a directory" if path.parent.exists() else "does not exist"
        raise InputError(
            f"cannot create the {kind} store: its directory {path.parent} {what}", file=str(path)
        )
