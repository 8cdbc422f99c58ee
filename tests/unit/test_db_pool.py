"""The pools' queue: a returned connection goes to the longest waiter, never past one to a newcomer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty

from hanse.db import FairQueue


async def test_a_returned_connection_goes_to_the_longest_waiter_not_to_a_newcomer():
    queue = FairQueue(maxsize=1)
    queue.put_nowait("conn")
    assert await greenlet_spawn(queue.get, True, 5) == "conn", "a free connection is taken at once"
    got: list[tuple[str, str]] = []

    async def wait(name: str) -> None:
        got.append((name, await greenlet_spawn(queue.get, True, 5)))

    first = asyncio.create_task(wait("first"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0.01)
    queue.put_nowait("conn")  # returned: handed to the first waiter
    # A newcomer asking in the same instant (SQLAlchemy's own queue gives it the connection, and
    # the woken waiter queues again at the back) waits behind the second waiter.
    with pytest.raises(Empty):
        queue.get(block=False)
    await first
    assert got == [("first", "conn")]
    queue.put_nowait("conn")
    await second
    assert got == [("first", "conn"), ("second", "conn")]


async def test_a_waiter_that_gives_up_loses_nothing():
    queue = FairQueue(maxsize=1)
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.05)
    queue.put_nowait("conn")  # the waiter is gone: the connection stays in the pool
    assert queue.get(block=False) == "conn"


async def test_a_connection_handed_over_as_its_waiter_is_cancelled_goes_to_the_next():
    queue = FairQueue(maxsize=1)
    got: list[str] = []

    async def wait() -> None:
        got.append(await greenlet_spawn(queue.get, True, 5))

    leaving = asyncio.create_task(wait())
    await asyncio.sleep(0.01)
    staying = asyncio.create_task(wait())
    await asyncio.sleep(0.01)
    queue.put_nowait("conn")  # handed to the first waiter ...
    leaving.cancel()  # ... whose request is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await leaving
    await asyncio.wait_for(staying, 5)
    assert got == ["conn"], "the second waiter got the connection the first could not take"
