"""aiosqlite at one thread hop per statement, for SQLAlchemy.

aiosqlite runs each SQLite connection in a thread of its own and every call on it is a hop: the
event loop queues the call, the thread wakes, runs it, and wakes the loop again. SQLAlchemy's
aiosqlite adapter makes four hops per statement (open a cursor, execute, fetch all, close) and
one more for the BEGIN each transaction starts with. A product GET (BEGIN, two SELECTs, ROLLBACK)
cost thirteen hops; profiled under load, the hand-offs were most of its CPU (docs/performance.md).

This adapter keeps the same driver, thread and connection and changes only how it is called:
- a statement is one hop that opens a cursor, executes, fetches every row and closes in the
  connection's thread;
- BEGIN is not sent on its own: it is remembered and sent in the same hop as the transaction's
  first statement, and a transaction that ran no statement commits or rolls back without a hop.

It uses two attributes of aiosqlite that are not public (`Connection._execute`, which runs a
function in the connection's thread, and `Connection._conn`, the sqlite3 connection), as
SQLAlchemy's own adapter does; aiosqlite is pinned and tests/unit/test_sqlite_adapter.py counts
the hops, so an upgrade that changes them fails there first.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run(
    conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None, bool]:
    """In the connection's thread: the pending BEGIN, then the statement, its rows and counts,
    and whether a transaction is open after it."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, conn.in_transaction
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement, rows and counts arrive in one hop."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: OneHopConnection) -> None:
        # No aiosqlite cursor is opened here (that is a hop of its own): _run opens one per statement.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:  # type: ignore[override]
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return  # nothing is open between hops

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._hop(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._hop(operation, seq_of_parameters, many=True)

    async def _hop(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt = self._adapt_connection
        async with adapt._execute_mutex:
            begin, adapt._pending_begin = adapt._pending_begin, None
            connection = self._connection
            try:
                result = await connection._execute(_run, connection._conn, begin, operation, parameters, many)
            except BaseException:
                # The BEGIN may have run before the statement failed: let the rollback go through.
                adapt._in_transaction = True
                raise
        self._description, rows, self._rowcount, self._lastrowid, adapt._in_transaction = result
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_in_transaction", "_pending_begin")

    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)
        self._pending_begin: str | None = None
        # Whether SQLite has a transaction open, as the last hop saw it (the sqlite3 connection
        # belongs to its thread and cannot be asked from here).
        self._in_transaction = False

    def begin_later(self, statement: str) -> None:
        """Send `statement` (BEGIN, BEGIN IMMEDIATE) with the next statement, in its hop."""
        self._pending_begin = statement

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self._pending_begin is not None:
            # A streaming cursor is SQLAlchemy's own (hops per fetch): begin before it, on its own.
            begin, self._pending_begin = self._pending_begin, None
            await_(self._connection.execute(begin))
            self._in_transaction = True
        return super().cursor(server_side)

    def rollback(self) -> None:
        # A transaction that never started (or already ended) has nothing to undo: no hop. The
        # pool's reset when a connection comes back is such a rollback, after every session.
        self._pending_begin = None
        if self._in_transaction:
            super().rollback()
            self._in_transaction = False  # only once it worked: a failed one is tried again

    def commit(self) -> None:
        self._pending_begin = None
        if self._in_transaction:
            super().commit()  # a failed COMMIT (SQLITE_BUSY) leaves the transaction open for the rollback
            self._in_transaction = False


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DB-API module handing out OneHopConnections (`create_async_engine(module=...)`)."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter: a forgotten connection never blocks exit
        return OneHopConnection(self, await_(connection))


def dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)
