"""Idempotency-Key: a retried write returns the first answer and changes nothing more."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from hanse.auth import issue_token
from tests.support import ledger


@pytest.fixture
async def client(settings):
    app = ledger.make_app(settings, handlers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            token, _ = issue_token("clerk", ["finance"], settings)
            c.headers["Authorization"] = f"Bearer {token}"
            yield c


async def entries(settings) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from hanse.db import Database

    db = Database(settings.database_url, ledger.Model.metadata, settings=settings)
    async with db.read_session() as session:
        count = (await session.exec(select(func.count()).select_from(ledger.Entry))).one()
    await db.dispose()
    return count


async def test_a_retried_write_replays_the_first_answer(client, settings):
    first = await client.post("/entries", json={"account": "a", "amount": 5}, headers={"Idempotency-Key": "k-1"})
    again = await client.post("/entries", json={"account": "a", "amount": 5}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await entries(settings) == 1
    other = await client.post("/entries", json={"account": "a", "amount": 5}, headers={"Idempotency-Key": "k-2"})
    assert other.json() != first.json()
    assert await entries(settings) == 2


async def test_the_same_key_for_a_different_request_is_refused(client, settings):
    await client.post("/entries", json={"account": "a", "amount": 5}, headers={"Idempotency-Key": "k-x"})
    changed = await client.post("/entries", json={"account": "a", "amount": 6}, headers={"Idempotency-Key": "k-x"})
    assert changed.status_code == 422 and changed.json()["field"] == "Idempotency-Key"
    bad = await client.post("/entries", json={"account": "a", "amount": 6}, headers={"Idempotency-Key": "bad key"})
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
    assert await entries(settings) == 1


async def test_keys_are_per_caller_and_errors_below_500_are_replayed(client, settings):
    invalid = await client.post("/entries", json={"account": "a"}, headers={"Idempotency-Key": "k-v"})
    assert invalid.status_code == 422
    replay = await client.post("/entries", json={"account": "a"}, headers={"Idempotency-Key": "k-v"})
    assert replay.status_code == 422 and replay.headers["idempotent-replayed"] == "true"
    token, _ = issue_token("someone-else", ["finance"], settings)
    theirs = await client.post(
        "/entries",
        json={"account": "a", "amount": 1},
        headers={"Idempotency-Key": "k-1", "Authorization": f"Bearer {token}"},
    )
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers


async def test_concurrent_requests_with_one_key_apply_once(client, settings):
    results = await asyncio.gather(
        *[
            client.post("/entries", json={"account": "c", "amount": 1}, headers={"Idempotency-Key": "k-race"})
            for _ in range(5)
        ]
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1
    assert await entries(settings) == 1
