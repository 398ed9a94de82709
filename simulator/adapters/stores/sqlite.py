"""`sqlite:///PATH`: the add-in's embedded default store, one SQLite file in WAL mode.

Tables are those of `simulator.addin.rows` (docs/addin.md), created on first use. A frame
is identified by (server, run, seq), UNIQUE in every record table and in `rejects`, so
`INSERT OR IGNORE` turns a redelivery (of a frame or a reject) into a counted duplicate;
a frame without run and seq (MQTT 3.1.1) has NULLs there, which never collide, and the
surrogate `id` keeps every one of them.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.adapters.stores.files import check_store_file
from simulator.addin.rows import (
    CUSTOM_TABLE_PREFIX,
    ColumnType,
    RowMaker,
    Table,
    by_server,
    identity_of,
    rows_by_table,
    tally_group,
)
from simulator.addin.store import Committed, Received, Rejected
from simulator.errors import InputError

_SQL_TYPE = {
    ColumnType.TEXT: "TEXT",
    ColumnType.INTEGER: "INTEGER",
    ColumnType.REAL: "REAL",
    # ISO-8601 text, one fixed form, so it sorts and compares as time does.
    ColumnType.TIMESTAMP: "TEXT",
    ColumnType.BYTES: "BLOB",
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_table_sql(table: Table) -> str:
    columns = [f"{_quote(name)} {_SQL_TYPE[kind]}" for name, kind in table.columns]
    key = ", UNIQUE (server, run, seq)" if table.keyed else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {_quote(table.name)} "
        f"(id INTEGER PRIMARY KEY, {', '.join(columns)}{key})"
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ms since the Unix epoch -> "2026-11-21T09:15:00.123": every frame's `sent` is a µs of
# its own, but at full speed dozens share a millisecond; a header TimeStamp (10 ms ticks
# over the run's virtual time) rarely does, so a millisecond is made from its second's text.
_MILLIS: dict[int, str] = {}
_SECONDS: dict[int, str] = {}  # seconds since the Unix epoch -> "2026-11-21T09:15:00."
_KEPT = 16384  # a cache past this many starts again
# 000..999, and the same with the zone after it: a `:06d` format spec costs 1.1k
# instructions more a time (callgrind).
_THREE_DIGITS: tuple[str, ...] = tuple(f"{i:03d}" for i in range(1000))
_MICROS: tuple[str, ...] = tuple(f"{i:03d}+00:00" for i in range(1000))


def iso_timestamp(us: int) -> str:
    """A time as this store writes it: what `datetime.isoformat(timespec="microseconds")`
    gives for that UTC datetime (`2026-11-21T09:15:00.000000+00:00`), for µs since the Unix
    epoch; the text up to the millisecond is kept, not made again for each time."""
    prefix = _MILLIS.get(us // 1000)
    if prefix is None:
        prefix = _millis_prefix(us // 1000)
    return prefix + _MICROS[us % 1000]


def _millis_prefix(ms: int) -> str:
    seconds, milli = divmod(ms, 1000)
    second = _SECONDS.get(seconds)
    if second is None:
        if len(_SECONDS) >= _KEPT:
            _SECONDS.clear()
        second = _SECONDS[seconds] = (_EPOCH + timedelta(seconds=seconds)).isoformat()[:-6] + "."
    if len(_MILLIS) >= _KEPT:
        _MILLIS.clear()
    text = _MILLIS[ms] = second + _THREE_DIGITS[milli]
    return text


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit mode: each batch is one explicit BEGIN ... COMMIT.
    db = sqlite3.connect(path, isolation_level=None)
    try:
        # The first statement to read the file: a file that is no database fails here.
        db.execute("PRAGMA journal_mode=WAL")
        # The add-in acknowledges a batch once commit returns: the WAL is synced by then.
        db.execute("PRAGMA synchronous=FULL")
    except BaseException:
        db.close()
        raise
    return db


class SqliteStore:
    def __init__(self, path: str | Path, maker: RowMaker) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{path}"
        self._maker = maker
        check_store_file(self.path, "SQLite", create=True)
        try:
            self._db = _connect(self.path)
        except sqlite3.DatabaseError as error:
            raise InputError(
                f"cannot open it as an SQLite store: {error}", file=str(self.path)
            ) from None
        self._schema_created = False
        self._inserts: dict[str, str] = {}
        self._pending: list[Received | Rejected] = []

    def add(self, item: Received | Rejected) -> None:
        self._pending.append(item)

    def commit(self) -> Committed:
        if not self._pending:
            return Committed()
        by_table, rejected = rows_by_table(self._maker, self._pending, iso_timestamp)
        stored: Counter[tuple[str, str]] = Counter()
        duplicates: Counter[str] = Counter()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # In the batch's transaction: rolled back with it, so tried again with the next.
            if not self._schema_created:
                for table in self._maker.tables:
                    db.execute(create_table_sql(table))
            for table, rows in by_table.items():
                insert = self._insert(table)
                if not table.keyed:
                    db.executemany(insert, rows)
                    continue
                # Per server, so that its duplicates are told apart (one group, usually).
                for server, group in by_server(rows):
                    added = db.executemany(insert, group).rowcount
                    tally_group(table, server, len(group), added, stored, duplicates, rejected)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._schema_created = True
        self._pending.clear()
        return Committed.tallied(stored, duplicates, rejected)

    def _insert(self, table: Table) -> str:
        sql = self._inserts.get(table.name)
        if sql is None:
            names = ", ".join(map(_quote, table.column_names))
            marks = ", ".join("?" * len(table.columns))
            sql = f"INSERT OR IGNORE INTO {_quote(table.name)} ({names}) VALUES ({marks})"
            self._inserts[table.name] = sql
        return sql

    def close(self) -> None:
        self._db.close()


_TABLES_SHOWN = 5  # of a database that is no store, in the error


def read_sqlite(path: str | Path, tables: tuple[Table, ...]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the store's tables that `tables` describes, in the order stored; of the
    tables of custom types it does not describe (declared when the add-in ran), the
    columns every table has, so that the frames' seq numbers can be counted."""
    check_store_file(Path(path), "SQLite", create=False)
    db = sqlite3.connect(f"file:{Path(path).absolute()}?mode=ro", uri=True)
    try:
        present = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        described = {table.name: table for table in tables if table.name in present}
        ours = [n for n in sorted(present) if n in described or n.startswith(CUSTOM_TABLE_PREFIX)]
        # No tables at all is a store the add-in opened and never committed to; tables of
        # others only are some other database, whose bill would read as nothing stored.
        if present and not ours and tables:
            shown = sorted(present)[:_TABLES_SHOWN]
            more = ", …" if len(present) > len(shown) else ""
            raise InputError(
                f"not a billsim store: it has no {tables[0].name} table "
                f"(its tables: {', '.join(shown)}{more})",
                file=str(path),
            )
        return {
            name: list(_read_table(db, described.get(name) or identity_of(name))) for name in ours
        }
    except sqlite3.DatabaseError as error:
        raise InputError(f"not a billsim SQLite store: {error}", file=str(path)) from None
    finally:
        db.close()


def _read_table(db: sqlite3.Connection, table: Table) -> Iterator[dict[str, Any]]:
    names = table.column_names
    stamps = [kind is ColumnType.TIMESTAMP for _, kind in table.columns]
    columns = ", ".join(map(_quote, names))
    for row in db.execute(f"SELECT {columns} FROM {_quote(table.name)} ORDER BY id"):
        yield {
            name: datetime.fromisoformat(value) if stamp and value is not None else value
            for name, value, stamp in zip(names, row, stamps, strict=True)
        }
