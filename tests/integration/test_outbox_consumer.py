"""Delivery guarantees of the kernel, on the real broker and real databases."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import orjson
import pytest
from sqlalchemy import func
from sqlmodel import select

from hanse import broker as brokermod
from hanse.consumer import Consumer
from hanse.db import Database
from hanse.events import CloudEvent, make_event
from hanse.outbox import Relay
from hanse.uow import UnitOfWork
from ops.broker import EmbeddedBroker
from tests.conftest import free_port, make_settings
from tests.support import ledger
from tests.support.kafka import eventually, read_all, send_raw


async def start_db(settings) -> Database:
    db = Database(settings.database_url, ledger.Model.metadata, settings=settings)
    await db.create_all()
    return db


async def post_entries(db: Database, entries: list[tuple[str, int]], **knobs) -> list[str]:
    ids = []
    for seq, (account, amount) in enumerate(entries):
        async with db.session() as session:
            entry = await ledger.post(UnitOfWork(session, db.settings, None), account, amount, seq=seq, **knobs)
            await session.commit()
            ids.append(entry.id)
    return ids


async def applied_rows(db: Database) -> list[ledger.Applied]:
    async with db.read_session() as session:
        return list((await session.exec(select(ledger.Applied).order_by(ledger.Applied.id))).all())


@contextlib.asynccontextmanager
async def running(*components):
    tasks = [asyncio.create_task(c.run()) for c in components]
    try:
        yield
    finally:
        for c in components:
            await c.stop()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


def make_consumer(db, settings):
    return Consumer("ledger", db, settings, ledger.HANDLERS, ledger.ledger_registry())


async def test_events_flow_from_outbox_to_handler_once(settings):
    db = await start_db(settings)
    relay, consumer = Relay(db, settings), make_consumer(db, settings)
    async with running(relay, consumer):
        ids = await post_entries(db, [("acme", 10), ("acme", 5), ("globex", 7)])

        async def all_applied():
            rows = await applied_rows(db)
            return rows if len(rows) == 3 else None

        rows = await eventually(all_applied)
    assert sorted(r.entry_id for r in rows) == sorted(ids)
    assert relay.published == 3
    await db.dispose()


async def test_writes_succeed_while_broker_is_down_and_drain_in_order_when_it_returns(database_url, tmp_path):
    own = EmbeddedBroker(free_port(), log_path=str(tmp_path / "tansu.log"))
    own.start()
    await own.wait_ready()
    settings = make_settings(own.bootstrap, database_url)
    db = await start_db(settings)
    relay = Relay(db, settings)
    try:
        async with running(relay):
            await post_entries(db, [("warmup", 1)])
            await eventually(lambda: _backlog_is(relay, 0))
            own.kill()
            # Every write succeeds with the broker gone; the events wait in the outbox.
            accounts = ["k1", "k2", "k3"]
            ids = await post_entries(db, [(accounts[i % 3], i) for i in range(30)])
            assert await relay.backlog() == 30
            own.start()
            await own.wait_ready()
            await eventually(lambda: _backlog_is(relay, 0), timeout=60)
        records = await read_all(own.bootstrap, settings.topic("ledger"), expect=30)
    finally:
        own.stop()
        await db.dispose()
    events = [CloudEvent.from_json(r.value) for r in records]
    published = [e.data["entry_id"] for e in events]
    assert sorted(published) == sorted(ids), "every row published exactly once"
    per_key: dict[str, list[int]] = defaultdict(list)
    for event in events:
        per_key[event.subject].append(event.data["seq"])
    for key, seqs in per_key.items():
        assert seqs == sorted(seqs), f"events of {key} out of order: {seqs}"


async def _backlog_is(relay: Relay, n: int) -> bool:
    return await relay.backlog() == n


async def test_relay_dying_between_publish_and_mark_publishes_twice_but_state_changes_once(settings):
    db = await start_db(settings)
    await post_entries(db, [("acme", 42)])
    crashed = Relay(db, settings)
    async with db.engine.connect() as conn:
        rows = await crashed.fetch_unsent(conn)
    acked, error = await crashed.send(rows)
    assert error is None and len(acked) == 1
    # The process dies here: no mark_sent, no graceful stop (which would flush the outbox).
    await crashed._reset_producer()

    relay, consumer = Relay(db, settings), make_consumer(db, settings)
    async with running(relay, consumer):
        records = await read_all(settings.kafka_bootstrap_servers, settings.topic("ledger"), expect=2)
        assert len(records) == 2, "published twice: once by the crashed relay, once by its successor"
        assert records[0].value == records[1].value
        await eventually(lambda: _processed(consumer, 2))
    rows = await applied_rows(db)
    assert [(r.account, r.amount) for r in rows] == [("acme", 42)]
    await db.dispose()


async def _processed(consumer: Consumer, n: int) -> bool:
    return consumer.processed >= n


async def test_redelivered_event_is_a_no_op(settings):
    db = await start_db(settings)
    event = make_event(ledger.EntryPosted(entry_id="e-1", account="acme", amount=3), source_department="ledger")
    consumer = make_consumer(db, settings)
    await brokermod.ensure_topics(settings.kafka_bootstrap_servers, [settings.topic("ledger")])
    async with running(consumer):
        for _ in range(3):
            await send_raw(settings.kafka_bootstrap_servers, settings.topic("ledger"), event.to_json(), b"acme")
        await eventually(lambda: _processed(consumer, 3))
    rows = await applied_rows(db)
    assert [(r.entry_id, r.amount) for r in rows] == [("e-1", 3)]
    await db.dispose()


async def test_handler_failing_transiently_is_retried_then_succeeds(settings):
    db = await start_db(settings)
    relay, consumer = Relay(db, settings), make_consumer(db, settings)
    async with running(relay, consumer):
        (entry_id,) = await post_entries(db, [("acme", 9)], fail_times=2)

        async def applied():
            return await applied_rows(db)

        rows = await eventually(applied)
    assert [r.entry_id for r in rows] == [entry_id]
    assert ledger.attempts_seen[entry_id] == 3
    await db.dispose()


async def test_poison_messages_go_to_the_dlq_with_headers_and_the_next_event_is_handled(settings):
    db = await start_db(settings)
    relay, consumer = Relay(db, settings), make_consumer(db, settings)
    topic = settings.topic("ledger")
    bootstrap = settings.kafka_bootstrap_servers
    not_cloudevent = orjson.dumps({"hello": "world"})
    bad_payload = make_event(
        ledger.EntryPosted(entry_id="x", account="acme", amount=1), source_department="ledger"
    ).model_copy(update={"data": {"entry_id": "x", "amount": "not a number"}})
    async with running(relay, consumer):
        await brokermod.ensure_topics(bootstrap, [topic])
        await send_raw(bootstrap, topic, b"\x00 this is not json", b"acme")
        await send_raw(bootstrap, topic, not_cloudevent, b"acme")
        await send_raw(bootstrap, topic, bad_payload.to_json(), b"acme")
        await post_entries(db, [("acme", 1)], permanent_failure=True)
        (good,) = await post_entries(db, [("acme", 5)])

        async def good_applied():
            return [r for r in await applied_rows(db) if r.entry_id == good]

        await eventually(good_applied)
        dead = await read_all(bootstrap, settings.dlq_topic("ledger"), expect=4)
    reasons = [dict(d.headers)["hanse-dlq-reason"].decode() for d in dead]
    assert reasons == ["not-json", "not-cloudevent", "invalid-payload", "rejected"]
    first = dict(dead[0].headers)
    assert first["hanse-dlq-topic"].decode() == topic
    assert first["hanse-dlq-partition"].decode().isdigit()
    assert first["hanse-dlq-offset"].decode().isdigit()
    assert first["hanse-dlq-attempts"].decode() == "0"
    assert "JSONDecodeError" in first["hanse-dlq-error"].decode()
    assert dict(dead[2].headers)["hanse-dlq-error"].decode().count("amount") >= 1
    assert dead[0].value == b"\x00 this is not json", "the original bytes are kept for replay"
    await db.dispose()


async def test_handler_failing_every_attempt_is_dead_lettered_with_its_attempt_count(settings):
    db = await start_db(settings)
    relay, consumer = Relay(db, settings), make_consumer(db, settings)
    async with running(relay, consumer):
        await post_entries(db, [("acme", 1)], fail_times=99)
        (dead,) = await read_all(settings.kafka_bootstrap_servers, settings.dlq_topic("ledger"), expect=1)
    headers = dict(dead.headers)
    assert headers["hanse-dlq-reason"] == b"handler-failed"
    assert headers["hanse-dlq-attempts"] == str(settings.consumer_max_attempts).encode()
    assert await applied_rows(db) == []
    await db.dispose()


@pytest.mark.postgres
async def test_two_relays_over_one_postgres_outbox_publish_each_row_once(broker, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED sharing is a PostgreSQL feature; SQLite runs one relay per file")
    settings = make_settings(broker.bootstrap, database_url, relay_batch_size=7)
    db_a, db_b = (
        await start_db(settings),
        Database(settings.database_url, ledger.Model.metadata, settings=settings),
    )
    ids = await post_entries(db_a, [(f"k{i % 40}", i) for i in range(120)])
    relay_a, relay_b = Relay(db_a, settings), Relay(db_b, settings)
    async with running(relay_a, relay_b):
        await eventually(lambda: _backlog_is(relay_a, 0), timeout=60)
    records = await read_all(broker.bootstrap, settings.topic("ledger"), expect=120)
    events = [CloudEvent.from_json(r.value) for r in records]
    assert sorted(e.data["entry_id"] for e in events) == sorted(ids)
    assert relay_a.published + relay_b.published == 120
    assert relay_a.published > 0 and relay_b.published > 0, "both relays took a share"
    per_key: dict[str, list[int]] = defaultdict(list)
    for e in events:
        per_key[e.subject].append(e.data["seq"])
    assert all(v == sorted(v) for v in per_key.values())
    async with db_a.engine.connect() as conn:
        outbox = db_a.metadata.tables["outbox"]
        unsent = await conn.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None)))
        assert unsent.scalar_one() == 0
    await db_a.dispose()
    await db_b.dispose()


async def test_caught_up_waits_until_everything_published_before_it_is_handled(settings):
    """Read-your-writes for views fed by a consumer (the gateway's timeline behind the order overview)."""
    db = await start_db(settings)
    gate = asyncio.Event()

    async def held(uow: UnitOfWork[None], payload) -> None:
        await gate.wait()  # the consumer is behind until the test opens the gate
        await ledger.on_entry_posted(uow, payload)

    consumer = Consumer("ledger", db, settings, {"ledger.entry.posted.v1": held}, ledger.ledger_registry())
    assert await consumer.caught_up(0.1) is False, "not running: nothing to wait for"
    # Published before the consumer runs (a held handler keeps SQLite's write lock, which the relay needs).
    relay = Relay(db, settings)
    async with running(relay):
        await post_entries(db, [("acme", 1), ("acme", 2), ("globex", 3)])
        await eventually(lambda: _backlog_is(relay, 0))
    async with running(consumer), _opened_at_exit(gate):

        async def in_loop() -> bool:
            return consumer._looping.is_set()

        await eventually(in_loop)
        # Published but held in the handler: behind, and the wait gives up when its time is out.
        assert await consumer.caught_up(0.3) is False
        assert await applied_rows(db) == []
        waiting = asyncio.create_task(consumer.caught_up(30))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        gate.set()
        assert await waiting is True
        # When it returns, every event published before the call is in the database.
        assert sorted(r.amount for r in await applied_rows(db)) == [1, 2, 3]
        # Nothing new: at once.
        assert await asyncio.wait_for(consumer.caught_up(5), 1) is True
    await db.dispose()


@contextlib.asynccontextmanager
async def _opened_at_exit(gate: asyncio.Event):
    try:
        yield
    finally:
        gate.set()  # a failed assertion must not leave the consumer's handler waiting
