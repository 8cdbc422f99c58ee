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


async def test_a_key_reserved_by_a_process_that_died_is_taken_over_after_the_lease(client, settings):
    """A replica killed mid-request leaves its reservation behind: 409 within the lease, then a retry runs."""
    import hashlib
    from datetime import timedelta

    from sqlalchemy import insert, update

    from hanse.db import Database
    from hanse.events import utcnow

    body = b'{"account":"lease","amount":7}'
    headers = {"Idempotency-Key": "k-lease", "Content-Type": "application/json"}
    db = Database(settings.database_url, ledger.Model.metadata, settings=settings)
    table = db.metadata.tables["idempotency_key"]
    principal = hashlib.sha256(client.headers["Authorization"].encode()).hexdigest()[:32]
    # What the dead process wrote when it took the key, the same request as the retry's.
    fingerprint = hashlib.sha256(b"\n".join([b"POST", b"/entries", b"", body])).hexdigest()
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(table).values(
                key="k-lease",
                principal=principal,
                method="POST",
                path="/entries",
                fingerprint=fingerprint,
                status=0,
                body=b"",
                content_type="",
                created_at=utcnow() - timedelta(seconds=10),
            )
        )
    try:
        # Within the lease the first request may still be running: the retry must not run beside it.
        early = await client.post("/entries", content=body, headers=headers)
        assert early.status_code == 409 and early.headers["content-type"] == "application/problem+json"
        # Another request under the same key is refused whatever the age of the reservation.
        async with db.engine.begin() as conn:
            await conn.execute(update(table).values(created_at=utcnow() - timedelta(minutes=3)))
        other = await client.post("/entries", content=b'{"account":"lease","amount":8}', headers=headers)
        assert other.status_code == 422
        assert await entries(settings) == 0

        retried = await client.post("/entries", content=body, headers=headers)
        assert retried.status_code == 201, retried.text
        again = await client.post("/entries", content=body, headers=headers)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == retried.json()
        assert await entries(settings) == 1
    finally:
        await db.dispose()
