"""Idempotent event consumer: inbox row and handler writes in one transaction, then the offset.

Per message: parse JSON, validate the CloudEvent envelope, validate the payload against the
producer's contract, then run the handler with retries and backoff. Anything that can never
succeed (not JSON, not a CloudEvent, a payload failing its model, PermanentEventError) goes to
the dead-letter topic at once; a handler still failing after the last attempt goes there too.
The loop itself never stops on a bad message. A message of a type no handler here takes is
skipped before its envelope is validated: the consumers that handle the type judge it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_attempt, wait_exponential_jitter

from hanse import broker, logs, tracing
from hanse.db import Database
from hanse.errors import PermanentEventError
from hanse.events import CloudEvent, EventPayload, EventRegistry, UnknownEventType, utcnow
from hanse.metrics import Metrics
from hanse.settings import Settings
from hanse.uow import UnitOfWork

log = logging.getLogger("hanse.consumer")


# A reaction to one event: it gets the unit of work (session, publish, cause, settings) and the payload.
Handler = Callable[[UnitOfWork[Any], Any], Awaitable[None]]


class DeadLetter(Exception):
    def __init__(self, reason: str, error: BaseException | str, attempts: int) -> None:
        super().__init__(str(error))
        self.reason = reason
        self.error = error
        self.attempts = attempts


_cleanups: set[asyncio.Task[Any]] = set()


def _background(*closers: Any) -> None:
    async def close_all() -> None:
        for closer in closers:
            with contextlib.suppress(Exception):
                await closer

    task = asyncio.ensure_future(close_all())
    _cleanups.add(task)  # keep a reference until done, or the task may be collected mid-way
    task.add_done_callback(_cleanups.discard)


class Consumer:
    def __init__(
        self,
        service: str,
        db: Database,
        settings: Settings,
        handlers: Mapping[str, Handler],
        registry: EventRegistry,
        metrics: Metrics | None = None,
        *,
        config: Any = None,
        group_id: str | None = None,
    ) -> None:
        unknown = [t for t in handlers if t not in registry]
        if unknown:
            raise ValueError(f"{service} handles event types no contract declares: {unknown}")
        self.service = service
        self.db = db
        self.settings = settings
        self.config = config  # the department's own settings, handed to handlers in the unit of work
        self.handlers = dict(handlers)
        self.registry = registry
        self.metrics = metrics
        self.group_id = group_id or f"{settings.topic_prefix}-{service}"
        departments = sorted({registry.department(t) for t in handlers})
        self.topics = [settings.topic(d) for d in departments] + [settings.retry_topic(service)]
        self.dlq_topic = settings.dlq_topic(service)
        self.inbox = db.metadata.tables["inbox"]
        # Built once, the batch's ids bound per call (building the IN per batch cost more than running it).
        self._seen = select(self.inbox.c.event_id).where(self.inbox.c.event_id.in_(bindparam("ids", expanding=True)))
        self._consumer: AIOKafkaConsumer | None = None
        self._producer = None
        self._stopping = False
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._looping = asyncio.Event()  # set while the loop consumes: what `stop` and `caught_up` look at
        self.processed = 0
        self._lag_updated = 0.0
        # Per assigned partition: the offset after the last record handled and committed here.
        self._handled: dict[TopicPartition, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        self._task = asyncio.current_task()
        failures = 0
        try:
            while not self._stopping:
                try:
                    await self._start()
                    failures = 0
                    self._looping.set()
                    await self._loop()
                except (TimeoutError, KafkaError, OSError) as exc:
                    self._looping.clear()
                    failures += 1
                    delay = min(0.2 * 2**failures, 5.0)
                    log.warning("%s consumer: broker unavailable (%s); retrying in %.1fs", self.service, exc, delay)
                    await self._close()
                    await asyncio.sleep(delay)
        finally:
            await self._close()
            self._closed.set()

    async def _start(self) -> None:
        if self._consumer is not None:
            return
        bootstrap = self.settings.kafka_bootstrap_servers
        await broker.ensure_topics(bootstrap, [*self.topics, self.dlq_topic], self.settings.topic_partitions)
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"hanse-{self.service}",
            metadata_max_age_ms=30_000,
            # Kafka answers a fetch as soon as data is there; the dev broker (tansu) always waits this
            # long, so it is also the per-hop latency floor there (measured: 100 ms -> ~52 ms per hop).
            fetch_max_wait_ms=self.settings.consumer_fetch_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        producer = broker.producer(bootstrap)
        try:
            await consumer.start()
            await producer.start()
        except asyncio.CancelledError:
            # Stopped mid-join: closing a joining consumer waits for the join (seconds), so let
            # that happen in the background instead of holding up shutdown.
            _background(consumer.stop(), producer.stop())
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._consumer, self._producer = consumer, producer

    async def _close(self) -> None:
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        for client in (consumer, producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.stop()

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, commit its offsets, then leave the group."""
        self._stopping = True
        if self._task is not None and not self._looping.is_set():
            # Still joining the group or backing off: nothing is in hand, so don't wait for the join.
            self._task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout)

    # -- the loop ------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stopping:
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            if self._stopping:
                break
            for tp, records in batches.items():
                await self.process_batch(records)
                await self._commit(consumer, tp, records[-1].offset + 1)
                self._handled[tp] = records[-1].offset + 1
            await self._update_lag(consumer)

    async def caught_up(self, timeout: float, poll: float = 0.02) -> bool:
        """Wait until the group has handled every record that was on its topics when this was called.

        Read-your-writes for what is built from consumed events (the gateway's timeline): an event
        published before the call is in the database when this returns True. The topics' end offsets
        are read once; what this process handled is compared locally, what is still behind with the
        group's committed offsets (every replica commits after handling). A consumer still starting
        is waited for. False when `timeout` passes first.
        """
        try:
            async with asyncio.timeout(timeout):
                await self._looping.wait()  # starting, or reconnecting to the broker
                consumer = self._consumer
                if consumer is None:
                    return False  # stopped meanwhile
                cluster = consumer._client.cluster
                if any(not cluster.partitions_for_topic(topic) for topic in self.topics):
                    cluster = await consumer._client.fetch_all_metadata()  # a topic created since the last refresh
                partitions = [TopicPartition(t, p) for t in self.topics for p in cluster.partitions_for_topic(t) or ()]
                ends = await consumer.end_offsets(partitions)
                behind = {tp: end for tp, end in ends.items() if end > 0}
                while behind:
                    behind = {tp: end for tp, end in behind.items() if self._handled.get(tp, 0) < end}
                    if behind:
                        # One request for all the rest (aiokafka's public `committed()` asks one partition
                        # per round trip): another replica's partitions, and ours handled before a restart.
                        committed = await consumer._coordinator.fetch_committed_offsets(list(behind))
                        for tp, found in committed.items():
                            if found is not None and found.offset >= behind[tp]:
                                del behind[tp]
                    if behind:
                        await asyncio.sleep(poll)
            return True
        except (TimeoutError, KafkaError):
            return False

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        try:
            await consumer.commit({tp: offset})
        except CommitFailedError as exc:
            # The group rebalanced; the new owner re-reads these and the inbox makes them no-ops.
            log.info("%s consumer: commit lost to a rebalance (%s)", self.service, exc)

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        # At most once a second: after every batch it was a few percent of a busy consumer's time,
        # for a gauge scraped every 15 s. An idle loop still comes here every 500 ms.
        now = time.monotonic()
        if not self.metrics or now - self._lag_updated < 1.0:
            return
        self._lag_updated = now
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            with contextlib.suppress(KafkaError, AssertionError):
                position = await consumer.position(tp)
                lag = max(highwater - position, 0)
                self.metrics.consumer_lag.labels(topic=tp.topic, partition=str(tp.partition)).set(lag)

    # -- one message -----------------------------------------------------------------------------

    async def process(self, record: ConsumerRecord) -> str:
        """Handle one record; never raises for a bad message. Returns the outcome."""
        return (await self.process_batch([record]))[0]

    async def process_batch(self, records: list[ConsumerRecord]) -> list[str]:
        """Handle one partition's records in order; never raises for a bad message.

        The happy path applies the whole batch in ONE transaction (one inbox probe, one inbox
        insert, one commit), which is what makes the consumer fast. If anything in it fails,
        the transaction is rolled back and the batch is replayed event by event with retries,
        so a failing event is isolated (and dead-lettered) without holding up the others.
        """
        outcomes: list[str] = ["ignored"] * len(records)
        types: list[str] = ["?"] * len(records)
        work: list[tuple[int, CloudEvent, EventPayload, Handler]] = []
        for i, record in enumerate(records):
            try:
                decoded = self._decode(record)
            except DeadLetter as dead:
                await self._dead_letter(record, dead)
                outcomes[i] = "dead_lettered"
                continue
            if decoded is not None:
                event, payload, handler = decoded
                types[i] = event.type
                work.append((i, event, payload, handler))
        if len(work) > 1:
            try:
                for i, outcome in (await self._handle_together(work, records)).items():
                    outcomes[i] = outcome
                work = []
            except Exception:
                log.info("%s: batch of %d failed; handling its events one by one", self.service, len(work))
        for i, event, payload, handler in work:
            try:
                outcomes[i] = await self._handle(event, payload, handler, records[i].headers)
            except DeadLetter as dead:
                await self._dead_letter(records[i], dead)
                outcomes[i] = "dead_lettered"
        self.processed += len(records)
        if self.metrics:
            for event_type, outcome in zip(types, outcomes, strict=True):
                self.metrics.events_handled.labels(type=event_type, outcome=outcome).inc()
        return outcomes

    async def _handle_together(
        self, work: list[tuple[int, CloudEvent, EventPayload, Handler]], records: list[ConsumerRecord]
    ) -> dict[int, str]:
        outcomes: dict[int, str] = {}
        async with self.db.sessionmaker() as session, session.begin():
            conn = await session.connection()
            ids = [event.id for _, event, _, _ in work]
            seen = set((await conn.execute(self._seen, {"ids": ids})).scalars())
            claimed: list[dict[str, Any]] = []
            now = utcnow()
            for i, event, payload, handler in work:
                if event.id in seen:
                    outcomes[i] = "duplicate"
                    continue
                seen.add(event.id)  # the same event twice in one batch is applied once
                # One session, many causes: each event gets its own unit of work, so none chains to another.
                with self._handling(event, records[i].headers):
                    await handler(UnitOfWork(session, self.settings, self.config, cause=event), payload)
                claimed.append({"event_id": event.id, "event_type": event.type, "handled_at": now})
                outcomes[i] = "handled"
            if claimed:
                await conn.execute(insert(self.inbox), claimed)
        return outcomes

    def _decode(self, record: ConsumerRecord) -> tuple[CloudEvent, EventPayload, Handler] | None:
        """The event, its payload and its handler; None for a type no handler here takes."""
        try:
            raw = orjson.loads(record.value) if record.value is not None else None
        except orjson.JSONDecodeError as exc:
            raise DeadLetter("not-json", exc, 0) from None
        if not isinstance(raw, dict):
            raise DeadLetter("not-cloudevent", "message is not a JSON object", 0)
        if isinstance(raw.get("type"), str) and raw["type"] not in self.handlers:
            # Another department's concern (most of a topic's events are): skipped before the envelope
            # is validated; the consumers that handle the type judge it.
            return None
        try:
            event = CloudEvent.model_validate(raw)
        except ValidationError as exc:
            raise DeadLetter("not-cloudevent", exc, 0) from None
        handler = self.handlers[event.type]  # a type no handler takes was skipped above
        try:
            payload = self.registry.parse(event)
        except (ValidationError, UnknownEventType) as exc:
            raise DeadLetter("invalid-payload", exc, 0) from None
        return event, payload, handler

    async def _handle(
        self, event: CloudEvent, payload: EventPayload, handler: Handler, headers: Sequence[tuple[str, bytes]] = ()
    ) -> str:
        attempt = 0
        try:
            async for attempt_state in AsyncRetrying(
                stop=stop_after_attempt(self.settings.consumer_max_attempts),
                wait=wait_exponential_jitter(
                    multiplier=self.settings.consumer_backoff_seconds,
                    max=self.settings.consumer_backoff_max_seconds,
                    jitter=self.settings.consumer_backoff_seconds,
                ),
                retry=retry_if_not_exception_type(PermanentEventError),
                reraise=True,
            ):
                with attempt_state, self._handling(event, headers):
                    attempt = attempt_state.retry_state.attempt_number
                    try:
                        return await self._handle_once(event, payload, handler, attempt)
                    except Exception:
                        if self.metrics:
                            self.metrics.handler_retries.inc()
                        log.warning(
                            "%s: handler for %s (%s) failed, attempt %d",
                            self.service,
                            event.type,
                            event.id,
                            attempt,
                            exc_info=True,
                        )
                        raise
        except PermanentEventError as exc:
            raise DeadLetter("rejected", exc, attempt) from None
        except Exception as exc:
            raise DeadLetter("handler-failed", exc, attempt) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _handle_once(self, event: CloudEvent, payload: EventPayload, handler: Handler, attempt: int) -> str:
        async with self.db.sessionmaker() as session, session.begin():
            if not await self._claim(session, event):
                return "duplicate"
            await handler(UnitOfWork(session, self.settings, self.config, cause=event, attempt=attempt), payload)
        return "handled"

    @contextlib.contextmanager
    def _handling(self, event: CloudEvent, headers: Sequence[tuple[str, bytes]] | None) -> Iterator[None]:
        """Log lines name the event's flow and trace; with tracing on, a CONSUMER span under the span
        that wrote the event (its `traceparent`), linked to the relay's publish span (the record header)."""
        tokens = (
            logs.correlation_id.set(event.correlationid),
            # With tracing on the span names the trace; off, the event's traceparent does.
            logs.trace_id.set(None if tracing.enabled() else tracing.trace_id_of(event.traceparent)),
            logs.service.set(self.service),
        )
        try:
            tracer = tracing.tracer(self.service)
            if tracer is None:
                yield
                return
            attributes = {
                "hanse.service": self.service,
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.consumer.group.name": self.group_id,
                "messaging.message.id": event.id,
                "cloudevents.event_type": event.type,
                "hanse.correlation_id": event.correlationid or "",
            }
            with tracing.span(
                tracer,
                f"process {event.type}",
                parent=tracing.extract(event.traceparent),
                kind=tracing.SpanKind.CONSUMER,
                attributes=attributes,
                links=tracing.link_to(tracing.headers_traceparent(headers)),
            ):
                yield
        finally:
            logs.service.reset(tokens[2])
            logs.trace_id.reset(tokens[1])
            logs.correlation_id.reset(tokens[0])

    async def _claim(self, session: AsyncSession, event: CloudEvent) -> bool:
        """Record the event in the inbox; False when it was handled before."""
        conn = await session.connection()
        seen = await conn.execute(select(self.inbox.c.event_id).where(self.inbox.c.event_id == event.id))
        if seen.first() is not None:
            return False
        try:
            async with session.begin_nested():
                await conn.execute(
                    insert(self.inbox).values(event_id=event.id, event_type=event.type, handled_at=utcnow())
                )
        except IntegrityError:
            # Another consumer of this group (during a rebalance) just handled it.
            return False
        return True

    async def _dead_letter(self, record: ConsumerRecord, dead: DeadLetter) -> None:
        error = dead.error
        message = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        headers = [
            *[(k, v) for k, v in (record.headers or ()) if not k.startswith("hanse-dlq-")],
            ("hanse-dlq-reason", dead.reason.encode()),
            ("hanse-dlq-error", message[:4000].encode("utf-8", "replace")),
            ("hanse-dlq-topic", record.topic.encode()),
            ("hanse-dlq-partition", str(record.partition).encode()),
            ("hanse-dlq-offset", str(record.offset).encode()),
            ("hanse-dlq-attempts", str(dead.attempts).encode()),
            ("hanse-dlq-consumer", self.service.encode()),
            ("hanse-dlq-at", utcnow().isoformat().encode()),
        ]
        log.error(
            "%s: dead-lettering %s[%d]@%d (%s): %s",
            self.service,
            record.topic,
            record.partition,
            record.offset,
            dead.reason,
            message[:500],
        )
        # Until the dead letter is safely stored the offset must not move: keep trying.
        delay = 0.2
        while True:
            try:
                assert self._producer is not None
                await self._producer.send_and_wait(self.dlq_topic, value=record.value, key=record.key, headers=headers)
                break
            except (TimeoutError, KafkaError, OSError) as exc:
                log.warning("%s: DLQ publish failed (%s); retrying", self.service, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self.metrics:
            self.metrics.dlq_messages.labels(reason=dead.reason).inc()
