"""Where the add-in stores frames: SQLite (embedded default), PostgreSQL, NBF files.

`open_store(url)` picks the store by the URL's scheme; `read_rows(url)` reads a store's
rows back, table by table, for the bill (`billsim report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.adapters.stores.files import check_store_file
from simulator.addin.rows import RowMaker
from simulator.addin.store import Received, Store
from simulator.errors import InputError
from simulator.scenario.names import common_name
from simulator.wire.codec import FrameCodec
from simulator.wire.stream import iter_frame_buffers

STORE_URL_FORMS = "sqlite:///PATH, postgresql://… or nbf:PATH"


def _scheme_path(url: str) -> tuple[str, str]:
    """(scheme, the rest) of a store URL; InputError for a URL of no known form."""
    for scheme, prefix in (
        ("sqlite", "sqlite:///"),
        ("postgresql", "postgresql://"),
        ("postgresql", "postgres://"),
        ("nbf", "nbf:"),
    ):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if not rest and scheme != "postgresql":
                raise InputError(f"{url!r} names no file: expected {STORE_URL_FORMS}")
            return scheme, rest
    raise InputError(f"unknown store URL {url!r}: expected {STORE_URL_FORMS}")


def open_store(url: str, codec: FrameCodec | RowMaker | None = None) -> Store:
    """The store `url` names, ready to take frames. `codec`: the layout the frames are
    written in and the declared custom types (each gets a table); default: linux-x86_64.
    Given the intake's RowMaker instead, a relational store takes the frames as the intake
    read them."""
    scheme, rest = _scheme_path(url)
    if scheme == "nbf":
        from simulator.adapters.stores.nbf import NbfStore  # noqa: PLC0415

        return NbfStore(rest)
    maker = codec if isinstance(codec, RowMaker) else RowMaker(codec or FrameCodec())
    if scheme == "sqlite":
        from simulator.adapters.stores.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(rest, maker)
    # psycopg is imported only by those who use PostgreSQL.
    from simulator.adapters.stores.postgresql import PostgresStore  # noqa: PLC0415

    return PostgresStore(url, maker)


def read_rows(url: str, codec: FrameCodec | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every stored row by table name (`sessionrec`, …), each row a dict by column name.

    An NBF file holds frames only: they are read as the rows a relational store would
    hold; the server, run and seq of each are those the add-in's index beside it
    (`PATH.seen`) recorded, else its server's common name, no run and its place in the file.
    """
    scheme, rest = _scheme_path(url)
    maker = RowMaker(codec or FrameCodec())
    if scheme == "sqlite":
        from simulator.adapters.stores.sqlite import read_sqlite  # noqa: PLC0415

        return read_sqlite(rest, maker.tables)
    if scheme == "postgresql":
        from simulator.adapters.stores.postgresql import read_postgres  # noqa: PLC0415

        return read_postgres(url, maker.tables)
    return _read_nbf(Path(rest), maker)


def _read_nbf(path: Path, maker: RowMaker) -> dict[str, list[dict[str, Any]]]:
    from simulator.adapters.stores.nbf import check_frames_file  # noqa: PLC0415

    check_store_file(path, "NBF", create=False)
    check_frames_file(path)
    out: dict[str, list[dict[str, Any]]] = {}
    index = _nbf_index(path)
    with path.open("rb") as stream:
        frames = iter_frame_buffers(stream, maker.codec, source=str(path))
        for data, start, length, offset, place in frames:
            server, run, seq = index.get(offset + length, (None, None, None))
            frame = bytes(data[start : start + length])
            item = Received("", run, place if seq is None else seq, "", frame, None, 0)
            try:
                table, values = maker.row(item)
            except ValueError as error:
                # The frame's number in the file when the index gave it no seq.
                raise InputError(
                    f"frame {item.seq} at byte offset {offset} does not decode: {error}",
                    file=str(path),
                ) from None
            row = dict(zip(table.column_names, values, strict=True))
            # What a topic would have said: the server's common name.
            row["server"] = server or common_name(row["ServerName"])
            out.setdefault(table.name, []).append(row)
    return out


def _nbf_index(path: Path) -> dict[int, tuple[str, str | None, int | None]]:
    """(server, run, seq) of each frame the add-in stored in the NBF file at ``path``, by
    the byte offset where the frame ends (frames written before the index was kept have
    none); run and seq None for a frame that came without them."""
    seen = path.with_name(path.name + ".seen")
    try:
        text = seen.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"the store's index cannot be read: {error}", file=str(seen)) from None
    index: dict[int, tuple[str, str | None, int | None]] = {}
    # Only complete lines: the store cuts a half-written last one off when it opens.
    for number, line in enumerate(text[: text.rfind("\n") + 1].splitlines(), 1):
        try:
            server, run, seq, end = line.rsplit(" ", 3)
            index[int(end)] = (server, None, None) if seq == "-" else (server, run, int(seq))
        except ValueError:
            raise InputError(
                "not a line `server run seq end`", file=str(seen), line=number
            ) from None
    return index
