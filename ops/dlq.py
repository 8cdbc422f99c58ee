"""Dead letters: list them, and replay them to the consuming service once the cause is fixed.

Replay publishes each dead letter, unchanged, to `hanse.<service>.retry`, which only that
service consumes, so other departments never see it twice. A replay consumer group remembers
what it has replayed, so each dead letter is replayed once.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from hanse import broker
from hanse.settings import Settings


async def _read(settings: Settings, service: str, group: str | None, limit: int | None):
    consumer = AIOKafkaConsumer(
        settings.dlq_topic(service),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    return consumer


async def show(settings: Settings, service: str, limit: int | None = None) -> int:
    consumer = await _read(settings, service, None, limit)
    count = 0
    try:
        while limit is None or count < limit:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    h = {k: v.decode("utf-8", "replace") for k, v in (r.headers or ())}
                    print(
                        f"{r.offset:>6}  {h.get('hanse-dlq-reason', '?'):<16} "
                        f"{h.get('hanse-dlq-topic', '?')}[{h.get('hanse-dlq-partition', '?')}]"
                        f"@{h.get('hanse-dlq-offset', '?')}  attempts={h.get('hanse-dlq-attempts', '?')}  "
                        f"{h.get('hanse-dlq-error', '')[:120]}"
                    )
                    count += 1
    finally:
        await consumer.stop()
    print(f"{count} dead letter(s) in {settings.dlq_topic(service)}")
    return 0


async def replay(settings: Settings, service: str, limit: int | None = None, dry_run: bool = False) -> int:
    """Re-publish dead letters to the service's retry topic; returns 0 and prints the count."""
    await broker.ensure_topics(
        settings.kafka_bootstrap_servers,
        [settings.dlq_topic(service), settings.retry_topic(service)],
        settings.topic_partitions,
    )
    group = f"{settings.topic_prefix}-{service}-dlq-replay"
    consumer = await _read(settings, service, None if dry_run else group, limit)
    producer = broker.producer(settings.kafka_bootstrap_servers)
    await producer.start()
    replayed = 0
    try:
        while limit is None or replayed < limit:
            batch = await consumer.getmany(timeout_ms=1500, max_records=100)
            if not batch:
                break
            for tp, records in batch.items():
                for r in records:
                    if limit is not None and replayed >= limit:
                        break
                    headers = [(k, v) for k, v in (r.headers or ()) if not k.startswith("hanse-dlq-")]
                    headers.append(("hanse-replayed-from", f"{r.topic}:{r.partition}:{r.offset}".encode()))
                    if not dry_run:
                        await producer.send_and_wait(
                            settings.retry_topic(service), value=r.value, key=r.key, headers=headers
                        )
                        await consumer.commit({tp: r.offset + 1})
                    replayed += 1
    finally:
        await asyncio.gather(consumer.stop(), producer.stop(), return_exceptions=True)
    verb = "would replay" if dry_run else "replayed"
    print(f"{verb} {replayed} dead letter(s) from {settings.dlq_topic(service)} to {settings.retry_topic(service)}")
    return 0
