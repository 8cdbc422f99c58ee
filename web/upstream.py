"""The console's way to the APIs: an in-process HTTP call through the gateway's own edge.

A console page asks for data exactly as a frontend would, with the signed-in user's bearer token,
so the role matrix, the rate limits and the routing are the same ones every other client meets.
The call does not leave the process (no socket, no second uvicorn hop): the request is handed to
the gateway's outermost ASGI app, which gates it and forwards it to the department.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.types import ASGIApp, Message


@dataclass(frozen=True)
class Answer:
    """An API answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    @property
    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body of a refusal (or a stand-in when the body is not one)."""
        try:
            body = self.json()
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict):
            return body
        return {"status": self.status, "detail": self.body[:200].decode("utf-8", "replace") or None}


@dataclass
class Call:
    """One request; `params` with None values are left out."""

    method: str
    path: str
    token: str | None = None
    params: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Upstream:
    """Calls the gateway edge in-process; `client` is the browser's address, for per-IP limits."""

    def __init__(self, edge: ASGIApp) -> None:
        self.edge = edge

    async def send(self, call: Call, *, client: tuple[str, int], request_id: str | None = None) -> Answer:
        scope, body = self._scope(call, client, request_id)
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        status = 500
        answer_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                answer_headers.update(_headers(message))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.edge(scope, receive, send)
        return Answer(status, answer_headers, b"".join(chunks))

    @contextlib.asynccontextmanager
    async def stream(
        self, call: Call, *, client: tuple[str, int], request_id: str | None = None
    ) -> AsyncIterator[tuple[int, dict[str, str], AsyncIterator[bytes]]]:
        """A response that does not end by itself (Server-Sent Events): status, headers, body chunks.

        Leaving the block tells the API the client went away (`http.disconnect`) and stops it.
        """
        scope, body = self._scope(call, client, request_id)
        messages: asyncio.Queue[Message] = asyncio.Queue(maxsize=64)
        gone = asyncio.Event()
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def run() -> None:
            try:
                await self.edge(scope, receive, messages.put)
            finally:
                await messages.put({"type": "http.response.body", "body": b"", "more_body": False})

        task = asyncio.create_task(run(), name=f"console-stream {call.path}")
        try:
            start = await messages.get()
            if start["type"] != "http.response.start":  # the app ended without answering
                yield 500, {}, _empty()
                return

            async def chunks() -> AsyncIterator[bytes]:
                while True:
                    message = await messages.get()
                    if message["type"] != "http.response.body":
                        continue
                    if message.get("body"):
                        yield message["body"]
                    if not message.get("more_body", False):
                        return

            yield start["status"], _headers(start), chunks()
        finally:
            gone.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _scope(self, call: Call, client: tuple[str, int], request_id: str | None) -> tuple[dict[str, Any], bytes]:
        body = b""
        headers: list[tuple[bytes, bytes]] = [(b"host", b"console")]
        if not any(k.lower() == "accept" for k in call.headers):
            headers.append((b"accept", b"application/json"))
        if call.json is not None:
            body = orjson.dumps(call.json)
            headers.append((b"content-type", b"application/json"))
        elif call.form is not None:
            body = urlencode(call.form).encode()
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        if call.token:
            headers.append((b"authorization", b"Bearer " + call.token.encode("latin-1")))
        if request_id:
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in call.headers.items())
        query = urlencode([(k, _text(v)) for k, v in (call.params or {}).items() if v not in (None, "")], doseq=True)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": call.method,
            "scheme": "http",
            "path": call.path,
            "raw_path": call.path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": headers,
            "client": client,
            "server": ("console", 80),
            "state": {},
        }
        return scope, body


def _headers(start: Message) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in start.get("headers", [])}


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return str(value)
