"""A file written whole or not at all: `--summary FILE` and other results a script reads.

The text goes to a temporary file beside the target, which replaces the target only once
it is complete (rename is atomic within a directory). A process killed before then leaves
the target as it was (an earlier run's summary, or nothing) and never a truncated or
empty one. A target that is not a regular file (`/dev/stdout`, a FIFO) cannot be
replaced: it is written directly, as it always was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import IO

from simulator.errors import InputError


class AtomicFile:
    """Opened before the work (a path that cannot be written is bad input found at once),
    written once with `commit`; `discard` (or leaving a `with` block by an exception)
    removes the temporary file and leaves the target untouched."""

    def __init__(self, path: Path, option: str | None = None) -> None:
        """`option`: the command-line option that named `path`, for the error."""
        self.path = path
        self._temporary: Path | None = None
        self._direct: IO[str] | None = None
        try:
            if _is_special(path):
                self._direct = open(path, "w", encoding="utf-8")  # noqa: SIM115 - see close
            else:
                self._temporary = _new_temporary(path)
        except OSError as error:
            raise InputError(error.strerror or str(error), file=str(path), field=option) from None

    def commit(self, text: str) -> None:
        """The target holds `text`, whole."""
        if self._direct is not None:
            self._direct.write(text)
            self._direct.close()
            self._direct = None
            return
        assert self._temporary is not None, "committed twice"
        try:
            with open(self._temporary, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(self._temporary, self.path)
        except OSError as error:
            self.discard()
            raise InputError(error.strerror or str(error), file=str(self.path)) from None
        self._temporary = None

    def discard(self) -> None:
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        if self._temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temporary.unlink()
            self._temporary = None

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.discard()  # after commit: nothing left to do


def _new_temporary(path: Path) -> Path:
    """An empty file beside `path` that no one else has, made with the mode a plain open
    gives (0666 less the umask): the target inherits it, and mkstemp's 0600 would leave a
    summary unreadable to the other users a plain write lets read it."""
    for _ in range(_TRIES):
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temporary
    raise FileExistsError(f"no free temporary name beside {path.name}")


_TRIES = 100  # names tried for a temporary file: a clash of 32 random bits is rare


def _is_special(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode)
