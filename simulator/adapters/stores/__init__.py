"""Where the add-in stores frames: SQLite (embedded default), PostgreSQL, NBF files.

`open_store(url)` picks the store by the URL's scheme; `read_rows(url)` reads a store's
rows back, table by table, for the bill (`billsim report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    hold, with seq their place in the file and no run.
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
    if not path.is_file():
        raise InputError("no such NBF store", file=str(path))
    out: dict[str, list[dict[str, Any]]] = {}
    with path.open("rb") as stream:
        frames = iter_frame_buffers(stream, maker.codec, source=str(path))
        for data, start, length, offset, seq in frames:
            item = Received("", None, seq, "", bytes(data[start : start + length]), None, 0)
            try:
                table, values = maker.row(item)
            except ValueError as error:
                raise InputError(
                    f"frame {seq} at byte offset {offset} does not decode: {error}", file=str(path)
                ) from None
            row = dict(zip(table.column_names, values, strict=True))
            # What a topic would have said: the server's common name.
            row["server"] = common_name(row["ServerName"])
            out.setdefault(table.name, []).append(row)
    return out
