"""The pooled client for calls between departments: one per event loop, reopened after shutdown."""

from __future__ import annotations

import asyncio

from hanse.http import close_department_client, department_client


async def test_one_client_per_loop_until_it_is_closed():
    first = department_client()
    assert department_client() is first, "calls share one pool"
    await close_department_client()
    assert first.is_closed
    second = department_client()
    assert second is not first and not second.is_closed, "a call after shutdown gets a new pool"
    await close_department_client()


def test_each_event_loop_has_its_own_client():
    """A pool's connections belong to the loop that opened them: another loop must not get them."""

    async def get() -> object:
        return department_client()

    loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
    try:
        clients = [loop.run_until_complete(get()) for loop in loops]
        assert clients[0] is not clients[1]
        assert loops[0].run_until_complete(get()) is clients[0]
    finally:
        for loop in loops:
            loop.run_until_complete(close_department_client())
            loop.close()
