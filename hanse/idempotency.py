"""Idempotency-Key for HTTP writes: a retried request gets the first response, not a second effect.

The first request with a key reserves it (status 0), runs, and stores its answer; a retry with
the same key and the same request replays that answer with `Idempotent-Replayed: true`. The same
key with a different request is a 422, and one arriving while the first still runs is a 409.
Answers of 5xx are not kept, so a failed request can be retried. Keys are scoped per caller (a
hash of the Authorization header) and kept for `ttl` (24 h).

A reservation is a lease: if the process running the first request dies (a replica killed, a
crash), its key would otherwise answer 409 for the key's whole lifetime. Once the reservation is
older than `lease` (2 minutes, four times the gateway's upstream timeout), a retry with the same
request takes the key over and runs. What is not covered: a process that died after its request
committed but before it stored the answer (milliseconds); the retry then runs again, and the
domain's own rules (a quote accepted once, an invoice paid once) decide.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanse.events import utcnow
from hanse.http import problem

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyMiddleware:
    def __init__(
        self, app: ASGIApp, ttl: timedelta = timedelta(hours=24), lease: timedelta = timedelta(minutes=2)
    ) -> None:
        self.app = app
        self.ttl = ttl
        self.lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        key = authorization = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                key = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value
        runtime = getattr(scope.get("app").state, "runtime", None) if scope.get("app") else None
        if key is None or runtime is None:
            await self.app(scope, receive, send)
            return
        if not _KEY.fullmatch(key):  # not match: `$` lets a trailing newline through
            await problem(400, "Idempotency-Key must be 1-255 visible ASCII characters", field="Idempotency-Key")(
                scope, receive, send
            )
            return

        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        principal = hashlib.sha256(authorization or b"public").hexdigest()[:32]
        path = scope["path"]
        fingerprint = hashlib.sha256(
            b"\n".join([scope["method"].encode(), path.encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        table = runtime.db.metadata.tables["idempotency_key"]
        where = (table.c.key == key) & (table.c.principal == principal)

        async with runtime.db.engine.begin() as conn:
            await conn.execute(delete(table).where(where, table.c.created_at < utcnow() - self.ttl))
            row = (await conn.execute(select(table).where(where))).first()
            if row is None:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            insert(table).values(
                                key=key,
                                principal=principal,
                                method=scope["method"],
                                path=path,
                                fingerprint=fingerprint,
                                status=0,
                                body=b"",
                                content_type="",
                                created_at=utcnow(),
                            )
                        )
                except IntegrityError:
                    row = (await conn.execute(select(table).where(where))).first()
            elif row.status == 0 and row.fingerprint == fingerprint:
                # Still reserved: by a request that runs, or by one whose process died. Past the
                # lease it is the latter; one retry wins the conditional update and runs.
                now = utcnow()
                taken = await conn.execute(
                    update(table)
                    .where(where, table.c.status == 0, table.c.created_at < now - self.lease)
                    .values(created_at=now)
                )
                if taken.rowcount == 1:
                    row = None
        if row is not None:
            if row.fingerprint != fingerprint:
                response = problem(
                    422, "this Idempotency-Key was used for a different request", field="Idempotency-Key"
                )
            elif row.status == 0:
                response = problem(409, "a request with this Idempotency-Key is still being processed")
            else:
                response = _replay(row.status, row.body, row.content_type)
            await response(scope, receive, send)
            return

        captured: dict = {"status": 500, "headers": [], "body": b""}

        async def replay_body() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            status = captured["status"]
            content_type = next(
                (v.decode("latin-1") for k, v in captured["headers"] if k == b"content-type"), "application/json"
            )
            async with runtime.db.engine.begin() as conn:
                if status >= 500:
                    await conn.execute(delete(table).where(where))
                else:
                    await conn.execute(
                        update(table)
                        .where(where)
                        .values(status=status, body=captured["body"], content_type=content_type)
                    )


def _replay(status: int, body: bytes, content_type: str):
    from starlette.responses import Response

    return Response(body, status_code=status, media_type=content_type, headers={"idempotent-replayed": "true"})
