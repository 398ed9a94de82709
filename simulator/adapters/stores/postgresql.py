"""`postgresql://…`: the add-in's rows in PostgreSQL (psycopg 3), a batch per transaction.

Tables are those of `simulator.addin.rows` (docs/addin.md), created on first use under an
advisory lock, so add-ins of one group starting together do not race to create them.
A batch is COPYed (binary) straight into its tables: a batch of new frames, the usual
case, is written once, in one transaction of as few round trips as COPY allows (BEGIN, two
a table, COMMIT; a savepoint a table cost two more each, and every round trip waits for
the server process to be scheduled: on a busy machine, milliseconds). When a row is
already there (a redelivery, after a crash or a reconnect), the transaction is rolled back
and the batch written again, each table's rows through a temporary table and `INSERT … ON
CONFLICT DO NOTHING`: the rows the INSERT did not take are the redeliveries, counted as
duplicates. Measured here (2 shared cores under load, local server, batches of 1,000
SESSIONREC rows, the insert alone): straight COPY 48 µs a row against 77-100 through the
temporary table (on a quieter machine, earlier: COPY + INSERT 16 ms a batch, executemany
(pipelined) 24 ms); binary COPY takes half the client's CPU of text COPY. A time goes
into COPY as what timestamptz is in binary, µs since 2000-01-01 in an int8, not as a
datetime for psycopg to take apart (three a row; callgrind: 6.6k instructions each).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from simulator.addin.rows import (
    CUSTOM_TABLE_PREFIX,
    ColumnType,
    RowMaker,
    Table,
    by_server,
    datetime_from_us,
    identity_of,
    rows_by_table,
    tally_group,
    us_from_datetime,
)
from simulator.addin.store import Committed, Received, Rejected
from simulator.errors import BillsimError, InputError

_SQL_TYPE = {
    ColumnType.TEXT: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.REAL: "double precision",
    ColumnType.TIMESTAMP: "timestamptz",
    ColumnType.BYTES: "bytea",
}
# What COPY (binary) writes each column as: timestamptz's binary form is an int8.
_COPY_TYPE = {**_SQL_TYPE, ColumnType.TIMESTAMP: "int8"}
# timestamptz's epoch, in µs since the Unix epoch; the times a datetime can hold (a time
# past them fails the commit as it did when times were datetimes).
_PG_EPOCH_US = 946_684_800_000_000
_FIRST_US = us_from_datetime(datetime.min.replace(tzinfo=UTC))
_LAST_US = us_from_datetime(datetime.max.replace(tzinfo=UTC))
# Any fixed number: the key of the lock schema creation holds (pg_advisory_xact_lock).
_SCHEMA_LOCK = 0x42494C4C


def pg_time(us: int) -> int:
    """A time as COPY writes it into a timestamptz column, from µs since the Unix epoch."""
    if not _FIRST_US <= us <= _LAST_US:
        datetime_from_us(us)  # OverflowError, as a datetime of it raised
    return us - _PG_EPOCH_US


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://…"
    host = info.get("host", "")
    port = f":{info['port']}" if "port" in info else ""
    user = f"{info['user']}@" if "user" in info else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname', '')}"


def _reason(error: psycopg.OperationalError) -> str:
    """libpq's reason on one line: `connection to server at "127.0.0.1", port 1 failed:
    Connection refused`, then its hint (`Is the server running…`), not the hint alone."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return "refused"
    first = lines[0].removeprefix("connection failed: ")
    return "; ".join([first, *lines[1:]])


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection, or an error naming the URL (never its password) and the reason."""
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise InputError(f"malformed PostgreSQL URL: {error}", field="STORE") from None
    try:
        return psycopg.connect(url)
    except psycopg.OperationalError as error:
        raise BillsimError(f"cannot connect to {redacted(url)}: {_reason(error)}") from None


def _column_list(table: Table) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(_SQL_TYPE[kind]))
        for name, kind in table.columns
    )


def create_table_sql(table: Table) -> sql.Composed:
    key = sql.SQL(", UNIQUE (server, run, seq)" if table.keyed else "")
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, {}{})"
    ).format(sql.Identifier(table.name), _column_list(table), key)


def _staging(table: Table) -> sql.Identifier:
    return sql.Identifier(f"staging_{table.name}")


class PostgresStore:
    def __init__(self, url: str, maker: RowMaker) -> None:
        self.url = url
        self._maker = maker
        self._db = connect(url)
        self._schema_created = False
        self._pending: list[Received | Rejected] = []

    def add(self, item: Received | Rejected) -> None:
        self._pending.append(item)

    def commit(self) -> Committed:
        if not self._pending:
            return Committed()
        by_table, rejected = rows_by_table(self._maker, self._pending, pg_time)
        try:
            inserted = self._write(by_table, redelivered=False)
        except psycopg.errors.UniqueViolation:
            inserted = self._write(by_table, redelivered=True)
        stored: Counter[tuple[str, str]] = Counter()
        duplicates: Counter[str] = Counter()
        for table, rows in by_table.items():
            if table.keyed:
                new = inserted[table.name]
                for server, group in by_server(rows):
                    added = len(group) if new is None else new.get(server, 0)
                    tally_group(table, server, len(group), added, stored, duplicates, rejected)
        self._schema_created = True
        self._pending.clear()
        return Committed.tallied(stored, duplicates, rejected)

    def _write(
        self, by_table: dict[Table, list[tuple[Any, ...]]], *, redelivered: bool
    ) -> dict[str, Counter[str] | None]:
        """The batch in one transaction; of each table, how many rows of each server were
        new (None: all of them). Straight COPYs (UniqueViolation, the transaction rolled
        back, when a row is already there), or, `redelivered`, each table through its
        temporary table, skipping such rows."""
        inserted: dict[str, Counter[str] | None] = {}
        with self._db.transaction(), self._db.cursor() as cursor:
            # In the batch's transaction: rolled back with it, so tried again with the next.
            if not self._schema_created:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for table in self._maker.tables:
                    self._create(cursor, table)
            for table, rows in by_table.items():
                names = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
                target = sql.Identifier(table.name)
                if redelivered and table.keyed:
                    inserted[table.name] = self._insert_new(cursor, table, names, target, rows)
                else:
                    _copy(cursor, target, names, table, rows)
                    inserted[table.name] = None
        return inserted

    def _create(self, cursor: psycopg.Cursor[Any], table: Table) -> None:
        cursor.execute(create_table_sql(table))
        cursor.execute(
            sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
                _staging(table), _column_list(table)
            )
        )

    def _insert_new(
        self,
        cursor: psycopg.Cursor[Any],
        table: Table,
        names: sql.Composable,
        target: sql.Identifier,
        rows: list[tuple[Any, ...]],
    ) -> Counter[str]:
        """Store the rows not already there (a redelivered frame's is); how many of each
        server's were new."""
        staging = _staging(table)
        _copy(cursor, staging, names, table, rows)
        # No conflict target: a rejects table made before rejects were keyed has no
        # UNIQUE (server, run, seq) to name, and keeps every row as it did.
        cursor.execute(
            sql.SQL(
                "WITH new AS (INSERT INTO {} ({}) SELECT {} FROM {} "
                "ON CONFLICT DO NOTHING RETURNING server) "
                "SELECT server, count(*) FROM new GROUP BY server"
            ).format(target, names, names, staging)
        )
        return Counter({server: count for server, count in cursor.fetchall()})

    def close(self) -> None:
        self._db.close()


def _copy(
    cursor: psycopg.Cursor[Any],
    into: sql.Identifier,
    names: sql.Composable,
    table: Table,
    rows: list[tuple[Any, ...]],
) -> None:
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(into, names)
    with cursor.copy(query) as copy:
        copy.set_types([_COPY_TYPE[kind] for _, kind in table.columns])
        for row in rows:
            copy.write_row(row)


def read_postgres(url: str, tables: tuple[Table, ...]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the store's tables that `tables` describes, in the order stored; of the
    tables of custom types it does not describe (declared when the add-in ran), the
    columns every table has, so that the frames' seq numbers can be counted."""
    with connect(url) as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        present = {name for (name,) in cursor.fetchall()}
        described = {table.name: table for table in tables if table.name in present}
        return {
            name: list(_read_table(cursor, described.get(name) or identity_of(name)))
            for name in sorted(present)
            if name in described or name.startswith(CUSTOM_TABLE_PREFIX)
        }


def _read_table(cursor: psycopg.Cursor[Any], table: Table) -> Iterator[dict[str, Any]]:
    names = table.column_names
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    cursor.execute(
        sql.SQL("SELECT {} FROM {} ORDER BY id").format(columns, sql.Identifier(table.name))
    )
    for row in cursor:
        yield dict(zip(names, row, strict=True))
