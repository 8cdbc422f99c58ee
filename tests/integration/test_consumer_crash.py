"""A consumer process killed mid-batch loses nothing and applies nothing twice after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from sqlalchemy import func
from sqlmodel import select

from hanse.db import Database
from hanse.outbox import Relay
from hanse.uow import UnitOfWork
from ops.broker import die_with_parent
from tests.support import ledger
from tests.support.kafka import eventually


async def count_applied(db: Database) -> tuple[int, int]:
    async with db.read_session() as session:
        total = (await session.exec(select(func.count()).select_from(ledger.Applied))).one()
        distinct = (await session.exec(select(func.count(func.distinct(ledger.Applied.entry_id))))).one()
        return total, distinct


async def start_worker(settings) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "HANSE_ENV": "test",
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "HANSE_TOPIC_PREFIX": settings.topic_prefix,
        "DATABASE_URL": settings.database_url,
        "HANSE_JWT_SECRET": settings.jwt_secret,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.ledger_worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent(),  # a killed test run takes the worker with it
    )


async def test_consumer_killed_mid_batch_loses_nothing_after_restart(settings):
    db = Database(settings.database_url, ledger.Model.metadata, settings=settings)
    await db.create_all()
    total_events = 60
    async with db.session() as session:
        for i in range(total_events):
            # Slow handlers keep the batch in flight long enough to be killed inside it.
            await ledger.post(UnitOfWork(session, settings, None), f"acct-{i % 4}", i, seq=i, sleep_ms=40)
        await session.commit()
    relay = Relay(db, settings)
    assert await relay.publish_pending() == total_events
    await relay.stop()

    worker = await start_worker(settings)
    try:

        async def some_applied():
            total, _ = await count_applied(db)
            return total >= 10

        await eventually(some_applied, timeout=60, interval=0.02)
    finally:
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    applied_at_kill, _ = await count_applied(db)
    assert applied_at_kill < total_events, "the kill must land mid-stream for this test to mean anything"

    worker = await start_worker(settings)
    try:

        async def all_applied():
            return (await count_applied(db)) == (total_events, total_events)

        await eventually(all_applied, timeout=90)
        await asyncio.sleep(1.0)  # anything redelivered after that would show up as a duplicate
        assert await count_applied(db) == (total_events, total_events)
    finally:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()
        await db.dispose()
