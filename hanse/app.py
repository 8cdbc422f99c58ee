"""`create_service(...)`: the one call that turns a department's routes and handlers into a service.

It wires the database, the outbox relay, the consumer, /livez, /readyz, /metrics, problem+json
errors, X-Request-ID, auth, offline API docs and the unit of work, so no service file repeats any
of it. It is handed everything it needs (routes, handlers, models, config) and imports no service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response

from hanse import db as dbmod
from hanse import logs, tracing
from hanse.auth import TokenCache
from hanse.consumer import Consumer, Handler
from hanse.db import Database
from hanse.documents import DocumentTemplates
from hanse.events import EventRegistry
from hanse.http import (
    EdgeMiddleware,
    close_department_client,
    install_docs,
    install_problem_handlers,
    operation_id,
    problem,
)
from hanse.idempotency import IdempotencyMiddleware
from hanse.mail import MailTemplates, MailWorker
from hanse.metrics import CONTENT_TYPE_LATEST, Metrics
from hanse.migrations import prepare_database
from hanse.outbox import Relay
from hanse.scheduler import Job, Scheduler
from hanse.settings import Settings, get_settings
from hanse.uow import UnitOfWork

log = logging.getLogger("hanse.app")


@dataclass
class ServiceRuntime:
    name: str
    settings: Settings
    config: Any
    db: Database
    relay: Relay
    consumer: Consumer | None
    metrics: Metrics
    registry: EventRegistry
    tasks: list[asyncio.Task[None]]
    mail: MailWorker | None = None


# Work to do once the database and the relay are up (e.g. loading reference data).
StartupHook = Callable[[ServiceRuntime], Awaitable[None]]


def migrations_of(models: ModuleType) -> Path:
    """A service's Alembic folder: `migrations/` in the package that holds its models."""
    package = sys.modules[models.__name__.rpartition(".")[0]]
    return Path(package.__file__ or "").resolve().parent / "migrations"


def install_edge(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """What every service has in front of its routes: tokens verified through a cache, problem+json
    for every error, Idempotency-Key replays, and the edge middleware (request ids, logs, metrics,
    the server span). `bench.minimal_app` puts it in front of bare routes to measure what it costs."""
    app.state.settings = settings
    app.state.token_cache = TokenCache(settings)
    install_problem_handlers(app)
    # The edge middleware is added last, so it is outermost: request ids and metrics cover replays too.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(EdgeMiddleware, metrics=metrics)


def create_service(
    name: str,
    *,
    routers: Sequence[APIRouter] = (),
    handlers: Mapping[str, Handler] | None = None,
    models: ModuleType,
    config: Any = None,
    settings: Settings | None = None,
    startup: Sequence[StartupHook] = (),
    jobs: Sequence[Job] = (),
    title: str | None = None,
    version: str = "1.0.0",
    templates: Path | None = None,
) -> FastAPI:
    """A department service: `models` is its models module (its `Model.metadata`, `migrations/` beside it);
    `config` its own settings object, handed to the domain in every unit of work; `jobs` its timed
    work, run by the kernel's scheduler; `templates` its templates folder (a `mail/` folder there
    turns on `uow.send_mail` and the mail worker, a `documents/` folder `uow.document`)."""
    settings = settings or get_settings()
    metadata = models.Model.metadata
    migrations = migrations_of(models)
    metrics = Metrics(name)
    handlers = dict(handlers or {})
    # The handlers' payload annotations are the contracts this service consumes.
    registry = EventRegistry.from_handlers(handlers)
    topics = settings.topics_for(sorted({name, *(registry.department(t) for t in handlers)}))
    mail_templates = MailTemplates(templates / "mail") if templates and (templates / "mail").is_dir() else None
    document_templates = (
        DocumentTemplates(templates / "documents") if templates and (templates / "documents").is_dir() else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracing.configure(name)  # OTEL_* env: the SDK and its exporter, or nothing (the default)
        logs.service.set(name)  # the relay's, consumer's and jobs' tasks start from here and log as this service
        url = settings.database_url_for(name)
        if dbmod.is_postgres(url) and settings.env != "prod":
            await dbmod.ensure_postgres_database(url)
        database = Database(
            url, metadata, settings=settings, mail_templates=mail_templates, document_templates=document_templates
        )
        await prepare_database(database, name, migrations, settings)  # prod: refuses an unmigrated schema
        relay = Relay(database, settings, metrics, topics=topics)
        consumer = Consumer(name, database, settings, handlers, registry, metrics, config=config) if handlers else None
        tasks = [asyncio.create_task(relay.run(), name=f"{name}-relay")]
        scheduler = Scheduler(database, settings, config, jobs) if jobs else None
        if consumer is not None:
            tasks.append(asyncio.create_task(consumer.run(), name=f"{name}-consumer"))
        mail = MailWorker(database, settings, metrics) if mail_templates else None
        if mail is not None:
            tasks.append(asyncio.create_task(mail.run(), name=f"{name}-mail"))
        runtime = ServiceRuntime(name, settings, config, database, relay, consumer, metrics, registry, tasks, mail)
        app.state.runtime = runtime
        app.state.db = database
        try:
            for hook in startup:
                await hook(runtime)
            if scheduler is not None:  # after the hooks: a job may need the reference data they load
                tasks.append(asyncio.create_task(scheduler.run(), name=f"{name}-scheduler"))
            log.info("%s ready on %s", name, url.split("@")[-1])
            yield
        finally:
            # Graceful: finish the event in hand and commit its offset, then flush the outbox.
            if consumer is not None:
                await consumer.stop()
            if scheduler is not None:
                scheduler.stop()
            await relay.stop()
            if mail is not None:
                await mail.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await close_department_client()
            await database.dispose()

    app = FastAPI(
        title=title or f"Hanse {name}",
        version=version,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.config = config
    app.state.service_name = name
    install_edge(app, settings, metrics)

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
            if runtime.mail is not None:
                runtime.metrics.mail_backlog.set(await runtime.mail.backlog())
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(ops)
    for router in routers:
        app.include_router(router)
    return app


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork[Any]]:
    """The request's unit of work: its session, the settings and the department's config.

    GET and HEAD read from a snapshot that never waits for writers. The session is opened here,
    not in a dependency of its own: FastAPI's dependency solving was a fifth of a product GET's
    samples (py-spy), and a generator dependency is its dearest kind (an exit stack per request).
    """
    state = request.app.state
    db: Database = state.db  # a service's, or the gateway's own
    factory = db.read_sessionmaker if request.method in ("GET", "HEAD") else db.sessionmaker
    async with factory() as session:
        yield UnitOfWork(session, state.settings, getattr(state, "config", None))


# A department narrows the config's type: `UoW = Annotated[UnitOfWork[SalesConfig], Depends(unit_of_work)]`.
UnitOfWorkDep = Annotated[UnitOfWork[Any], Depends(unit_of_work)]


async def get_session(uow: UnitOfWorkDep) -> AsyncSession:
    """The request's session: the unit of work's, so a route taking both gets one session."""
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(runtime_of)]


async def writing_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork[Any]]:
    """A unit of work on a writing session, for the few GETs that change state.

    A GET normally reads a snapshot; a link in a mail (confirm a subscription) must be a GET, and a
    document is stored the first time it is fetched (`uow.document`), so those routes take this.
    """
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        yield UnitOfWork(session, request.app.state.settings, request.app.state.config)
