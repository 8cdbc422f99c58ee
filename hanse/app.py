"""`create_service(...)`: the one call that turns a department's routes and handlers into a service.

It wires the database, the outbox relay, the consumer, /livez, /readyz, /metrics, problem+json
errors, X-Request-ID and auth, so no service file repeats any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import MetaData
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from hanse import db as dbmod
from hanse.auth import TokenCache
from hanse.consumer import Consumer, Handler
from hanse.db import Database
from hanse.events import EventRegistry
from hanse.events import registry as default_registry
from hanse.http import EdgeMiddleware, install_problem_handlers, problem
from hanse.idempotency import IdempotencyMiddleware
from hanse.metrics import CONTENT_TYPE_LATEST, Metrics
from hanse.migrate import prepare_database
from hanse.outbox import Relay
from hanse.settings import Settings, get_settings

log = logging.getLogger("hanse.app")


@dataclass
class ServiceRuntime:
    name: str
    settings: Settings
    db: Database
    relay: Relay
    consumer: Consumer | None
    metrics: Metrics
    registry: EventRegistry
    tasks: list[asyncio.Task[None]]


def _service_metadata(name: str) -> MetaData:
    module = importlib.import_module(f"services.{name}.models")
    return module.Model.metadata


def create_service(
    name: str,
    routers: Sequence[APIRouter] = (),
    handlers: Mapping[str, Handler] | None = None,
    *,
    metadata: MetaData | None = None,
    settings: Settings | None = None,
    registry: EventRegistry | None = None,
    title: str | None = None,
    version: str = "1.0.0",
) -> FastAPI:
    settings = settings or get_settings()
    metadata = metadata if metadata is not None else _service_metadata(name)
    registry = registry or default_registry()
    metrics = Metrics(name)
    handlers = dict(handlers or {})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.database_url_for(name)
        if dbmod.is_postgres(url) and settings.env != "prod":
            await dbmod.ensure_postgres_database(url)
        database = Database(url, metadata, settings=settings)
        await prepare_database(database, name, settings)  # prod: refuses an unmigrated schema
        relay = Relay(database, settings, metrics)
        consumer = Consumer(name, database, settings, handlers, registry, metrics) if handlers else None
        tasks = [asyncio.create_task(relay.run(), name=f"{name}-relay")]
        if consumer is not None:
            tasks.append(asyncio.create_task(consumer.run(), name=f"{name}-consumer"))
        runtime = ServiceRuntime(name, settings, database, relay, consumer, metrics, registry, tasks)
        app.state.runtime = runtime
        app.state.db = database
        log.info("%s ready on %s", name, url.split("@")[-1])
        try:
            yield
        finally:
            # Graceful: finish the event in hand and commit its offset, then flush the outbox.
            if consumer is not None:
                await consumer.stop()
            await relay.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await database.dispose()

    app = FastAPI(
        title=title or f"Hanse {name}",
        version=version,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service_name = name
    app.state.token_cache = TokenCache(settings)
    install_problem_handlers(app)
    # The edge middleware is added last, so it is outermost: request ids and metrics cover replays too.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(EdgeMiddleware, metrics=metrics)

    ops = APIRouter(tags=["operations"])

    @ops.get("/livez", summary="The process is alive")
    async def livez() -> dict[str, Any]:
        return {"status": "ok", "service": name, "pid": os.getpid()}

    @ops.get("/readyz", summary="Database and broker are reachable", responses={503: {"description": "not ready"}})
    async def readyz(request: Request) -> Any:
        runtime: ServiceRuntime = request.app.state.runtime
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(runtime.db.ping(), 3.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["broker"] = "ok" if await runtime.relay.broker_reachable() else "unreachable"
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "service": name, "checks": checks}
        return problem(503, "not ready", slug="not-ready", service=name, checks=checks)

    @ops.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint(request: Request) -> Response:
        runtime: ServiceRuntime = request.app.state.runtime
        with contextlib.suppress(Exception):
            runtime.metrics.outbox_backlog.set(await runtime.relay.backlog())
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    for router in routers:
        app.include_router(router)
    return app


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session; GET and HEAD read from a snapshot that never waits for writers."""
    db: Database = request.app.state.db  # a service's, or the gateway's own
    factory = db.read_sessionmaker if request.method in ("GET", "HEAD") else db.sessionmaker
    async with factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(runtime_of)]
