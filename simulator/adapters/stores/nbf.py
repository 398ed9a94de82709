"""`nbf:PATH`: frames appended back to back, the billing.nbf form (what `run --out` writes).

The file holds frames only, so a redelivery is recognised by (server, run, seq) kept in a
sidecar index next to it (`PATH.seen`, one `server run seq end` line per stored frame,
`-` for a run and seq the frame came without: then every copy is appended). Rejects go
to `PATH.rejects` as JSON lines (topic, reason, payload in hex), a redelivered one (the
same server, run and seq) counted as a duplicate and not written again.

A commit writes and fsyncs the frames, then their index lines. An add-in killed between
the two leaves frames the index does not know: no broker had their acknowledgement, so
they come again, and opening the store cuts them off first (the file ends where the last
complete index line says), so the file holds each frame once.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from simulator.adapters.stores.files import check_store_file
from simulator.addin.intake import frame_class
from simulator.addin.store import NO_SERVER, Committed, Received, Rejected
from simulator.errors import InputError
from simulator.wire.stream import FrameForm, detect_form


class NbfStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"nbf:{self.path}"
        self._seen_path = self.path.with_name(self.path.name + ".seen")
        self._rejects_path = self.path.with_name(self.path.name + ".rejects")
        self._seen: set[tuple[str, str, int]] = set()
        self._seen_rejects: set[tuple[str, str, int]] = set()
        check_store_file(self.path, "NBF", create=True)
        # Before _recover, which would cut a file that is not frames to its index's end.
        check_frames_file(self.path)
        self._pending: list[Received | Rejected] = []
        self._rejects: BinaryIO | None = None
        try:
            self._size = self._recover()
            self._recover_rejects()
            self._frames: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        except OSError as error:
            raise InputError(
                f"cannot open the NBF store: {error.strerror or error}", file=str(self.path)
            ) from None
        try:
            self._index: BinaryIO = open(self._seen_path, "ab")  # noqa: SIM115
        except OSError as error:
            self._frames.close()
            raise InputError(
                f"cannot open the NBF store's index: {error.strerror or error}",
                file=str(self._seen_path),
            ) from None

    def _recover(self) -> int:
        """Read the index and cut the frames file to the end of its last complete line;
        the size the frames file has from then on."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if not self._seen_path.exists():
            return size  # frames written before this store kept an index are left as they are
        data = self._seen_path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        end = 0
        try:
            text = complete.decode()
        except UnicodeDecodeError as error:
            raise InputError(f"not UTF-8: {error.reason}", file=str(self._seen_path)) from None
        for number, line in enumerate(text.splitlines(), 1):
            try:
                server, run, seq, last = line.rsplit(" ", 3)
                end = int(last)
                if seq != "-":
                    self._seen.add((server, run, int(seq)))
            except ValueError:
                raise InputError(
                    "not a line `server run seq end`", file=str(self._seen_path), line=number
                ) from None
        if len(complete) < len(data):
            with open(self._seen_path, "r+b") as index:
                index.truncate(len(complete))
        if size > end:
            with open(self.path, "r+b") as frames:
                frames.truncate(end)
        return min(size, end)

    def _recover_rejects(self) -> None:
        """Read the (server, run, seq) of every reject kept, and cut off a half-written
        last line (its reject was never acknowledged, so it comes again)."""
        try:
            data = self._rejects_path.read_bytes()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]
        for number, line in enumerate(complete.splitlines(), 1):
            try:
                obj = json.loads(line)
                key = _reject_key(obj.get("server"), obj.get("run"), obj.get("seq"))
            except (ValueError, AttributeError):
                raise InputError(
                    "not a JSON object of a reject", file=str(self._rejects_path), line=number
                ) from None
            if key is not None:
                self._seen_rejects.add(key)
        if len(complete) < len(data):
            with open(self._rejects_path, "r+b") as rejects:
                rejects.truncate(len(complete))

    def add(self, item: Received | Rejected) -> None:
        self._pending.append(item)

    def commit(self) -> Committed:
        stored: Counter[tuple[str, str]] = Counter()
        duplicates: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        frames: list[bytes] = []
        index: list[bytes] = []
        rejects: list[bytes] = []
        for item in self._pending:
            if isinstance(item, Rejected):
                key = _reject_key(item.server, item.run, item.seq)
                if key is not None and key in self._seen_rejects:
                    duplicates[item.server or NO_SERVER] += 1
                    continue
                if key is not None:
                    self._seen_rejects.add(key)
                rejected[item.server or NO_SERVER] += 1
                rejects.append(_reject_line(item))
                continue
            run, seq = "-", "-"
            if item.run is not None and item.seq is not None:
                key = (item.server, item.run, item.seq)
                if key in self._seen:
                    duplicates[item.server] += 1
                    continue
                self._seen.add(key)
                run, seq = item.run, str(item.seq)
            frames.append(item.frame)
            self._size += len(item.frame)
            index.append(f"{item.server} {run} {seq} {self._size}\n".encode())
            stored[item.server, frame_class(item.frame)] += 1
        self._pending.clear()
        if frames:
            self._frames.write(b"".join(frames))
            _sync(self._frames)
        if index:
            self._index.write(b"".join(index))
            _sync(self._index)
        if rejects:
            if self._rejects is None:
                self._rejects = open(self._rejects_path, "ab")  # noqa: SIM115
            self._rejects.write(b"".join(rejects))
            _sync(self._rejects)
        return Committed.tallied(stored, duplicates, rejected)

    def close(self) -> None:
        for stream in (self._frames, self._index, self._rejects):
            if stream is not None:
                stream.close()


def check_frames_file(path: Path) -> None:
    """InputError if the file at `path` starts like something other than frames back to
    back (text, such as a YAML file or a log, or JSON lines), as `detect_form` tells them
    apart; an empty or missing file is a store with nothing stored yet."""
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", file=str(path)) from None
    with stream:
        try:
            form, _ = detect_form(stream, source=str(path))
        except InputError as error:
            # What it starts with, without the hint that offers JSON lines (no NBF store
            # holds them).
            reason = error.message.partition(";")[0].partition(": ")[2] or error.message
            raise InputError(
                f"not an NBF store: {reason}", file=error.file, line=error.line
            ) from None
    if form is FrameForm.JSON:
        raise InputError(
            "not an NBF store: it holds JSON lines (`run --stdout`), not frames back to back "
            "(`run --out`)",
            file=str(path),
            line=1,
        )


def _reject_key(server: object, run: object, seq: object) -> tuple[str, str, int] | None:
    """What tells a redelivered reject from a new one; None, as a relational store's NULLs,
    when it came without a server, run or seq: every copy of it is kept."""
    if server is None or run is None or seq is None:
        return None
    if isinstance(server, str) and isinstance(run, str) and isinstance(seq, int):
        return (server, run, seq)
    raise ValueError("a reject's server, run and seq are a text, a text and a number")


def _reject_line(item: Rejected) -> bytes:
    obj = {
        "server": item.server,
        "run": item.run,
        "seq": item.seq,
        "topic": item.topic,
        "reason": item.reason,
        "payload": item.payload.hex(),
        "received_us": item.received_us,
    }
    return (json.dumps(obj) + "\n").encode()


def _sync(stream: BinaryIO) -> None:
    # Frames are acknowledged to the broker after this: they must be on disk by then.
    stream.flush()
    os.fsync(stream.fileno())
