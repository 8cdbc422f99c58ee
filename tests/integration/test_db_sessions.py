"""The kernel's sessions: aiosqlite at one thread hop per statement, reads that cannot write, no idle pings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiosqlite
import pytest
from sqlalchemy import MetaData, event, text
from sqlalchemy.exc import DBAPIError

from hanse.db import Database, FairPool, drop_postgres_database, ensure_postgres_database, kernel_tables
from tests.conftest import PG_BASE, postgres_available


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call aiosqlite runs in a connection's thread, by name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self, fn, *args, **kwargs):
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return seen


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Database]:
    metadata = MetaData()
    kernel_tables(metadata)
    if request.param == "postgres":
        if not postgres_available():
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        url = f"{PG_BASE}/hanse_sessions_{uuid.uuid4().hex[:8]}"
        await ensure_postgres_database(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    db = Database(url, metadata)
    await db.create_all()
    async with db.session() as session:
        await session.execute(text("CREATE TABLE t (a INTEGER)"))
        await session.commit()
    try:
        yield db
    finally:
        await db.dispose()
        if request.param == "postgres":
            await drop_postgres_database(url)


async def _rows(db: Database, read: bool = True) -> list[int]:
    async with db.read_session() if read else db.session() as session:
        return [r[0] for r in (await session.execute(text("SELECT a FROM t ORDER BY a"))).all()]


async def test_a_read_session_costs_one_hop_per_statement_and_one_for_its_end(tmp_path, hops):
    metadata = MetaData()
    kernel_tables(metadata)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}", metadata)
    try:
        await db.create_all()
        async with db.read_session() as session:  # the pool opens its connection (pragmas) once
            await session.execute(text("SELECT 1"))
        hops.clear()
        async with db.read_session() as session:
            await session.execute(text("SELECT 1"))
            await session.execute(text("SELECT count(*) FROM outbox"))
        # BEGIN rides with the first SELECT; the second SELECT; the ROLLBACK at the end. The pool's
        # reset on check-in finds no transaction open and makes no hop.
        assert hops == ["_run", "_run", "rollback"]

        hops.clear()
        async with db.session() as session:
            await session.execute(
                text("INSERT INTO inbox (event_id, event_type, handled_at) VALUES ('e1', 't', '2026-01-01')")
            )
            await session.commit()
        assert hops == ["_run", "commit"]

        hops.clear()
        async with db.session():
            pass
        assert hops == []  # a session that ran nothing began nothing
    finally:
        await db.dispose()


async def test_a_failed_statement_leaves_no_transaction_open(database: Database):
    """The BEGIN rode with the statement that failed: the rollback must still reach the database."""
    async with database.session() as session:
        await session.execute(text("INSERT INTO t (a) VALUES (1)"))
        with pytest.raises(DBAPIError):
            await session.execute(text("INSERT INTO no_such_table VALUES (1)"))
        await session.rollback()
    # Had the connection gone back to the pool mid-transaction, the next writer would see the 1
    # (or on SQLite wait on its own lock); a fresh session sees nothing.
    assert await _rows(database, read=False) == []
    async with database.session() as session:
        await session.execute(text("INSERT INTO t (a) VALUES (2)"))
        await session.commit()
    assert await _rows(database) == [2]


async def test_a_read_session_cannot_write(database: Database):
    """GET and HEAD read through these sessions: a write there is a bug and fails instead of landing."""
    async with database.read_session() as session:
        with pytest.raises(DBAPIError, match=r"(?i)read-only|readonly|query_only|attempt to write"):
            await session.execute(text("INSERT INTO t (a) VALUES (3)"))
    assert await _rows(database, read=False) == []


async def test_reads_see_what_was_committed(database: Database):
    async with database.session() as session:
        await session.execute(text("INSERT INTO t (a) VALUES (4)"))
        assert await _rows(database) == []  # not yet committed: a reader does not see it
        await session.commit()
    assert await _rows(database) == [4]


async def test_waiting_sessions_are_served_in_arrival_order(database: Database):
    """Every pool is first come, first served (hanse.db.FairQueue): with every reader connection
    held, sessions that ask one after another get the connections in that order."""
    assert isinstance(database.engine.pool, FairPool) and isinstance(database.read_engine.pool, FairPool)
    held = [await database.read_engine.connect() for _ in range(database.read_engine.pool.size())]
    for conn in held:
        await conn.execute(text("SELECT 1"))
    served: list[str] = []  # which task got a connection, in the order the pool handed them out

    def checked_out(*_: object) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("reader-"):
            served.append(task.get_name())

    event.listen(database.read_engine.sync_engine, "checkout", checked_out)

    async def read() -> None:
        async with database.read_session() as session:
            await session.execute(text("SELECT 1"))

    waiting = []
    for n in range(6):
        waiting.append(asyncio.create_task(read(), name=f"reader-{n}"))
        await asyncio.sleep(0.02)  # each is queued before the next asks
    assert served == [], "every connection is held: all six wait"
    for conn in held:
        await conn.close()
    await asyncio.wait_for(asyncio.gather(*waiting), 10)
    event.remove(database.read_engine.sync_engine, "checkout", checked_out)
    assert served == [f"reader-{n}" for n in range(6)]
