"""Helpers for tests that read or write topics directly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from hanse import broker


async def read_all(bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Read a topic from the start until `expect` records arrived (or the timeout), then a bit more."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_rounds = 0
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            got = [r for rs in batch.values() for r in rs]
            records += got
            if len(records) >= expect:
                quiet_rounds = quiet_rounds + 1 if not got else 0
                if quiet_rounds >= 3:  # keep listening a little to catch duplicates
                    break
    finally:
        await consumer.stop()
    return records


async def send_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = broker.producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def eventually(check: Callable, timeout: float = 30.0, interval: float = 0.1):
    """Await `check()` until it returns a truthy value; fail with its last value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
