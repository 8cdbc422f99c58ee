"""Kafka client plumbing: producer settings and topic creation.

The embedded dev broker (ops/broker.py) is memory-only and its idempotent producer does not
work, so nothing here relies on either: producers use acks=all without idempotence, consumers
are idempotent, and topics are (re)created whenever a broker is found without them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger("hanse.broker")


def producer(bootstrap: str, **overrides: object) -> AIOKafkaProducer:
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 2,
        "request_timeout_ms": 10_000,
        "retry_backoff_ms": 200,
        "client_id": "hanse",
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int = 3) -> list[str]:
    """Create the topics that are missing; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(t, partitions if not t.endswith((".dlq", ".retry")) else 1, 1) for t in missing]
                )
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()
