"""Replicas on one PostgreSQL database: starting together, sharing a port, one Idempotency-Key (docs/replicas.md).

Without the schema lock, concurrent `create_all` of one metadata fails with an IntegrityError
(pg_type's unique index) in all but one process; concurrent CREATE DATABASE fails the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import asyncpg
import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from hanse.app import migrations_of
from hanse.auth import issue_token
from hanse.db import Database, advisory_lock, drop_postgres_database, ensure_postgres_database
from hanse.migrations import prepare_database
from hanse.settings import Settings
from ops.cli import listening_socket
from services.sales import models as sales_models
from tests.conftest import PG_BASE, free_port, postgres_available, unique_name
from tests.support import ledger
from tests.support.kafka import eventually

pytestmark = pytest.mark.postgres

REPLICAS = 4


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    """A database name that does not exist yet: the replicas create it."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    url = f"{PG_BASE}/{unique_name('hanse_rep')}"
    yield url
    await drop_postgres_database(url)


async def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def test_replicas_starting_together_create_the_database_and_its_tables_once(fresh_url):
    await asyncio.gather(*(ensure_postgres_database(fresh_url) for _ in range(REPLICAS)))
    metadata = sales_models.Model.metadata
    databases = [Database(fresh_url, metadata) for _ in range(REPLICAS)]
    settings = Settings(env="dev")
    try:
        results = await asyncio.gather(
            *(prepare_database(db, "sales", migrations_of(sales_models), settings) for db in databases),
            return_exceptions=True,
        )
    finally:
        for db in databases:
            await db.dispose()
    assert results == [None] * REPLICAS
    tables = await _fetch(fresh_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert set(metadata.tables) <= {r["tablename"] for r in tables}


async def test_the_advisory_lock_admits_one_holder_at_a_time(fresh_url):
    await ensure_postgres_database(fresh_url)
    first, second = Database(fresh_url, sales_models.Model.metadata), Database(fresh_url, sales_models.Model.metadata)
    order: list[str] = []
    try:
        async with advisory_lock(first.engine, "hanse.test"):
            waiting = asyncio.create_task(_take(second, order))

            async def second_waits() -> bool:
                rows = await _fetch(fresh_url, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                return len(rows) == 1

            await eventually(second_waits, timeout=10)
            assert order == []
            order.append("first releases")
        await asyncio.wait_for(waiting, 10)
    finally:
        await first.dispose()
        await second.dispose()
    assert order == ["first releases", "second holds"]


async def _take(db: Database, order: list[str]) -> None:
    async with advisory_lock(db.engine, "hanse.test"):
        order.append("second holds")


def test_replicas_share_a_port_only_when_each_asks_for_it():
    port = free_port()
    first = listening_socket("127.0.0.1", port, reuse_port=True)
    second = None
    try:
        first.listen()  # uvicorn listens once the app has started
        second = listening_socket("127.0.0.1", port, reuse_port=True)
        second.listen()
        with pytest.raises(OSError):  # a process that did not ask cannot take the port
            listening_socket("127.0.0.1", port, reuse_port=False).listen()
    finally:
        first.close()
        if second is not None:
            second.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_one_idempotency_key_sent_to_two_replicas_applies_once(settings):
    """Two app instances (each its own engine and pool, as two processes have) on one database."""
    token, _ = issue_token("clerk", ["finance"], settings)
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = ledger.make_app(settings, handlers=False)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://replica"))
            client.headers.update({"Authorization": f"Bearer {token}", "Idempotency-Key": "k-replicas"})
            clients.append(client)
        results = await asyncio.gather(
            *(clients[i % 2].post("/entries", json={"account": "r", "amount": 1}) for i in range(6))
        )
        statuses = [r.status_code for r in results]
        assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
        assert len({r.json()["id"] for r in results if r.status_code == 201}) == 1
        # Once the first has finished, either replica replays its answer.
        replays = [await c.post("/entries", json={"account": "r", "amount": 1}) for c in clients]
        assert [r.headers.get("idempotent-replayed") for r in replays] == ["true", "true"]
    db = Database(settings.database_url, ledger.Model.metadata, settings=settings)
    try:
        async with db.read_session() as session:
            count = (await session.exec(select(func.count()).select_from(ledger.Entry))).one()
    finally:
        await db.dispose()
    assert count == 1
