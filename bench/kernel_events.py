"""Events per second through outbox → broker → consumer with inbox, against raw aiokafka.

Baseline: raw aiokafka produces N messages of the same size (acks=all) and a consumer group
reads them, committing per batch. Hanse: N events already in an outbox are published by the
relay and handled by a consumer that records each in its inbox and applies it in the same
transaction. Both on the same embedded broker, in the same run, and both timed from the moment
the consumer owns its partitions (joining a group takes seconds and is not throughput).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid

from aiokafka import AIOKafkaConsumer
from sqlalchemy import func
from sqlmodel import select

from hanse import broker as brokermod
from hanse.consumer import Consumer
from hanse.db import Database
from hanse.outbox import Relay
from hanse.settings import Settings
from hanse.uow import UnitOfWork
from ops.broker import EmbeddedBroker, port_open
from tests.conftest import free_port
from tests.support import ledger


async def raw_aiokafka(bootstrap: str, n: int, payload: bytes) -> float:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    await brokermod.ensure_topics(bootstrap, [topic], 3)
    producer = brokermod.producer(bootstrap)
    await producer.start()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=topic, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    started = time.perf_counter()
    futures = [await producer.send(topic, payload, key=f"k{i % 50}".encode()) for i in range(n)]
    await asyncio.gather(*futures)
    seen = 0
    while seen < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=500)
        for tp, records in batch.items():
            seen += len(records)
            await consumer.commit({tp: records[-1].offset + 1})
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return n / elapsed


async def hanse_pipeline(bootstrap: str, n: int, database_url: str) -> float:
    settings = Settings(
        env="test",
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}",
        database_url=database_url,
        jwt_secret="b" * 40,
        relay_poll_seconds=0.05,
    )
    db = Database(database_url, ledger.Model.metadata, settings=settings)
    await db.create_all()
    async with db.session() as session:
        for i in range(n):
            await ledger.post(UnitOfWork(session, settings, None), f"k{i % 50}", i)
        await session.commit()
    await brokermod.ensure_topics(bootstrap, settings.topics_for(["ledger"]), 3)
    relay = Relay(db, settings)
    consumer = Consumer("ledger", db, settings, ledger.HANDLERS, ledger.ledger_registry())
    tasks = [asyncio.create_task(consumer.run())]
    while consumer._consumer is None or not consumer._consumer.assignment():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    started = time.perf_counter()
    tasks.append(asyncio.create_task(relay.run()))
    while True:
        async with db.read_session() as session:
            done = (await session.exec(select(func.count()).select_from(ledger.Applied))).one()
        if done >= n:
            break
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    await consumer.stop()
    await relay.stop()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await db.dispose()
    return n / elapsed


async def run(n: int = 5000) -> dict[str, float]:
    payload_size = 450  # about the size of a ledger CloudEvent
    with tempfile.TemporaryDirectory() as tmp:
        broker = EmbeddedBroker(free_port(), log_path=os.path.join(tmp, "tansu.log"))
        broker.start()
        try:
            await broker.wait_ready()
            await raw_aiokafka(broker.bootstrap, 500, b"x" * payload_size)  # warm-up
            raw = await raw_aiokafka(broker.bootstrap, n, b"x" * payload_size)
            sqlite = await hanse_pipeline(broker.bootstrap, n, f"sqlite+aiosqlite:///{tmp}/bench.db")
            results = {"raw_aiokafka_eps": raw, "hanse_sqlite_eps": sqlite}
            if port_open("127.0.0.1", 5432):
                from hanse.db import drop_postgres_database, ensure_postgres_database

                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/hanse_bench_{uuid.uuid4().hex[:8]}"
                await ensure_postgres_database(url)
                try:
                    results["hanse_postgres_eps"] = await hanse_pipeline(broker.bootstrap, n, url)
                finally:
                    await drop_postgres_database(url)
            return results
        finally:
            broker.stop()
