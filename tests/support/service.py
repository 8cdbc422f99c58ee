"""Run a department service in-process (real lifespan: database, relay, consumer) for tests."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from hanse.app import ServiceRuntime
from hanse.auth import issue_token
from hanse.events import CloudEvent, EventPayload, make_event
from hanse.settings import Settings
from tests.support.kafka import send_raw


@dataclass
class RunningService:
    name: str
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> ServiceRuntime:
        return self.app.state.runtime

    def token(self, *roles: str, subject: str = "tester") -> str:
        token, _ = issue_token(subject, list(roles), self.settings)
        return token

    def auth(self, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles)}"}

    async def deliver(
        self, payload: EventPayload, *, correlation_id: str | None = None, cause: CloudEvent | None = None
    ) -> CloudEvent:
        """Publish an event as its producing department would (real broker, its topic)."""
        department = payload.event_type.split(".", 1)[0]
        event = make_event(payload, source_department=department, correlation_id=correlation_id, cause=cause)
        await send_raw(
            self.settings.kafka_bootstrap_servers,
            self.settings.topic(department),
            event.to_json(),
            (event.subject or event.id).encode(),
        )
        return event


@asynccontextmanager
async def run_service(name: str, settings: Settings) -> AsyncIterator[RunningService]:
    module = importlib.import_module(f"services.{name}.app")
    app: FastAPI = module.build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield RunningService(name, app, client, settings)


@asynccontextmanager
async def serve_on_port(app: FastAPI, port: int) -> AsyncIterator[str]:
    """Serve an app with uvicorn on 127.0.0.1:<port> inside this event loop; yields its base URL."""
    import asyncio

    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
