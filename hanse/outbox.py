"""Transactional outbox: events are written with the state change, a relay publishes them.

`append()` adds the event to the caller's transaction; departments reach it only through the
unit of work (`hanse.uow.UnitOfWork.publish`). The relay is woken right after each
commit that wrote events and also polls, so a crash or a broker outage only delays events.
On PostgreSQL several relays share one outbox: rows are claimed with FOR UPDATE SKIP LOCKED,
and a key whose earlier rows another relay holds is left for later, keeping per-key order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import broker, tracing
from hanse.db import Database, claim
from hanse.events import CONTENT_TYPE, CloudEvent, EventPayload, make_event, utcnow
from hanse.metrics import Metrics
from hanse.settings import Settings

log = logging.getLogger("hanse.outbox")


async def append(
    session: AsyncSession,
    payload: EventPayload,
    *,
    settings: Settings,
    cause: CloudEvent | None = None,
    correlation_id: str | None = None,
) -> CloudEvent:
    """Record an event in the caller's transaction; it is published after the commit."""
    department = payload.event_type.split(".", 1)[0]
    event = make_event(payload, source_department=department, correlation_id=correlation_id, cause=cause)
    outbox = _outbox_table(session)
    conn = await session.connection()
    await conn.execute(
        insert(outbox).values(
            event_id=event.id,
            topic=settings.topic(department),
            key=event.subject or event.id,
            event_type=event.type,
            payload=event.to_json(),
            created_at=event.time,
        )
    )
    session.info["outbox_pending"] = True
    return event


def _outbox_table(session: AsyncSession) -> Any:
    tables = session.info.get("tables")
    if tables is None:
        raise RuntimeError("session was not opened by a Hanse service (no kernel tables)")
    return tables["outbox"]


def _publish_span(row: Row, headers: list[tuple[str, bytes]]) -> tuple[tracing.Span, list[tuple[str, bytes]]]:
    """A PRODUCER span under the span that wrote the event; the record's `traceparent` header names it."""
    event = orjson.loads(row.payload)  # only with tracing on: the outbox row has no traceparent column
    department = str(event.get("source", "")).rsplit("/", 1)[-1] or "unknown"
    tracer = tracing.tracer(department)
    assert tracer is not None
    span = tracer.start_span(
        f"publish {row.event_type}",
        context=tracing.extract(event.get("traceparent")),
        kind=tracing.SpanKind.PRODUCER,
        attributes={
            "hanse.service": department,
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": row.topic,
            "messaging.message.id": str(event.get("id", "")),
            "messaging.kafka.message.key": row.key,
            "cloudevents.event_type": row.event_type,
        },
    )
    traceparent = tracing.traceparent_of(span)
    return span, [*headers, ("traceparent", traceparent.encode())] if traceparent else headers


def _end_publish_spans(spans: list[tracing.Span], results: list[Any]) -> None:
    for i, span in enumerate(spans):
        if i >= len(results):
            tracing.set_error(span, "not sent: an earlier send failed")
        elif isinstance(results[i], BaseException):
            tracing.set_error(span, f"{type(results[i]).__name__}: {results[i]}")
        span.end()


class Relay:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        topics: Sequence[str] = (),
        producer_options: dict[str, Any] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        # Recreated when the broker is found without them (the memory-only dev broker restarted).
        self.topics = list(topics)
        self.outbox = db.metadata.tables["outbox"]
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._producer_options = producer_options or {}
        self._stopping = False
        self.published = 0
        db.on_commit.append(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = broker.producer(self.settings.kafka_bootstrap_servers, **self._producer_options)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _reset_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def run(self) -> None:
        """Publish until stopped: after every commit that wrote events, and every poll interval."""
        failures = 0
        while not self._stopping:
            try:
                await self.publish_pending()
                failures = 0
            except (TimeoutError, KafkaError, OSError) as exc:
                failures += 1
                delay = min(0.2 * 2**failures, 5.0)
                log.warning("relay: broker unavailable (%s); retrying in %.1fs", exc, delay)
                await self._reset_producer()
                await self._recreate_topics()
                await asyncio.sleep(delay)
                continue
            except Exception:
                log.exception("relay: unexpected error")
                await asyncio.sleep(1.0)
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.relay_poll_seconds)
            self._wake.clear()

    async def _recreate_topics(self) -> None:
        # A broker that lost its topics (the memory-only dev broker restarted) gets them back.
        if not self.topics:
            return
        with contextlib.suppress(Exception):
            await broker.ensure_topics(
                self.settings.kafka_bootstrap_servers, self.topics, self.settings.topic_partitions
            )

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.publish_pending(), 5.0)
        await self._reset_producer()

    async def publish_pending(self) -> int:
        """Publish every unsent row, batch by batch; returns how many were published."""
        total = 0
        while True:
            count = await (self._publish_batch_pg() if self.db.is_postgres else self._publish_batch())
            total += count
            if count < self.settings.relay_batch_size:
                return total

    # -- SQLite: one relay per database (one process), short transactions around the send ----------

    async def _publish_batch(self) -> int:
        async with self.db.engine.connect() as conn:
            rows = await self.fetch_unsent(conn)
            await conn.rollback()
        if not rows:
            return 0
        acked, error = await self.send(rows)
        await self.mark_sent(rows, acked)
        if error:
            raise error
        return len(rows)

    # -- PostgreSQL: claim rows with SKIP LOCKED and hold them until marked ------------------------

    async def _publish_batch_pg(self) -> int:
        error: Exception | None = None
        async with self.db.engine.begin() as conn:
            fetched = await self.fetch_unsent(conn, lock=True)
            rows = await self._without_keys_held_elsewhere(conn, fetched) if fetched else []
            if not rows:
                return 0
            acked, error = await self.send(rows)
            if acked:
                await conn.execute(update(self.outbox).where(self.outbox.c.id.in_(acked)).values(sent_at=utcnow()))
        self._count(rows, acked)
        if error:
            raise error
        return len(fetched)

    async def _without_keys_held_elsewhere(self, conn: AsyncConnection, rows: Sequence[Row]) -> list[Row]:
        first_mine: dict[str, int] = {}
        for row in rows:
            first_mine.setdefault(row.key, row.id)
        o = self.outbox
        earliest = await conn.execute(
            select(o.c.key, func.min(o.c.id))
            .where(o.c.sent_at.is_(None), o.c.key.in_(list(first_mine)))
            .group_by(o.c.key)
        )
        blocked = {key for key, min_id in earliest if min_id < first_mine[key]}
        return [row for row in rows if row.key not in blocked]

    # -- steps, public so fault tests can stop between them ---------------------------------------

    async def fetch_unsent(self, conn: AsyncConnection, *, lock: bool = False) -> list[Row]:
        o = self.outbox
        query = (
            select(o.c.id, o.c.topic, o.c.key, o.c.event_type, o.c.payload)
            .where(o.c.sent_at.is_(None))
            .order_by(o.c.id)
            .limit(self.settings.relay_batch_size)
        )
        if lock:
            query = claim(query)
        return list((await conn.execute(query)).all())

    async def send(self, rows: Sequence[Row]) -> tuple[list[int], Exception | None]:
        """Send rows (acks=all); returns the ids acknowledged before the first failure, and it."""
        producer = await self._get_producer()
        await self._verify_topics(producer, {row.topic for row in rows})
        headers = [("content-type", CONTENT_TYPE.encode())]
        futures = []
        spans: list[tracing.Span] = []
        try:
            for row in rows:
                row_headers = headers
                if tracing.enabled():
                    span, row_headers = _publish_span(row, headers)
                    spans.append(span)
                futures.append(
                    await producer.send(row.topic, value=row.payload, key=row.key.encode(), headers=row_headers)
                )
        except (TimeoutError, KafkaError, OSError) as exc:
            results: list[Any] = [*await asyncio.gather(*futures, return_exceptions=True), exc]
        else:
            results = await asyncio.gather(*futures, return_exceptions=True)
        if spans:
            _end_publish_spans(spans, results)
        acked: list[int] = []
        for row, result in zip(rows, results, strict=False):
            if isinstance(result, BaseException):
                error = result if isinstance(result, Exception) else KafkaError(repr(result))
                return acked, error
            acked.append(row.id)
        return acked, None

    async def _verify_topics(self, producer: AIOKafkaProducer, topics: set[str]) -> None:
        """Refuse to send into a topic the broker does not have.

        The memory-only dev broker, once restarted, acknowledges writes to topics it no longer
        has and drops them; a producer with cached metadata would never notice. One metadata
        request per batch closes that hole (and is harmless on a real cluster).
        """
        metadata = await producer.client.fetch_all_metadata()
        missing = topics - metadata.topics()
        if missing:
            await broker.ensure_topics(self.settings.kafka_bootstrap_servers, missing, self.settings.topic_partitions)
            await producer.client.force_metadata_update()

    async def mark_sent(self, rows: Sequence[Row], ids: Sequence[int]) -> None:
        if not ids:
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(update(self.outbox).where(self.outbox.c.id.in_(ids)).values(sent_at=utcnow()))
        self._count(rows, ids)

    def _count(self, rows: Sequence[Row], ids: Sequence[int]) -> None:
        self.published += len(ids)
        if self.metrics:
            sent = set(ids)
            for row in rows:
                if row.id in sent:
                    self.metrics.events_published.labels(type=row.event_type).inc()

    async def backlog(self) -> int:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                select(func.count()).select_from(self.outbox).where(self.outbox.c.sent_at.is_(None))
            )
            return int(result.scalar_one())

    async def broker_reachable(self, timeout: float = 2.0) -> bool:
        try:
            producer = await asyncio.wait_for(self._get_producer(), timeout)
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout)
            return True
        except (TimeoutError, KafkaError, OSError):
            await self._reset_producer()
            return False
