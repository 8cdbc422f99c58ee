"""Gateway app: the edge (roles, limits, proxy to /api/v1/<dept>/...) in front of its own modules."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from gateway import contracts, events, identity, models, overview, sitemap, webhooks
from gateway.models import Model
from gateway.proxy import UpstreamProxy
from gateway.ratelimit import GatewayLimits
from gateway.roles import RoleMatrix
from hanse import db as dbmod
from hanse.app import migrations_of
from hanse.db import Database
from hanse.http import EdgeMiddleware, install_docs, install_problem_handlers, operation_id, problem
from hanse.metrics import CONTENT_TYPE_LATEST, Metrics
from hanse.migrations import prepare_database
from hanse.settings import Settings, get_settings
from services import DEPARTMENTS, service_url
from web import console

router = APIRouter()


@router.get("/livez", tags=["operations"])
async def livez() -> dict[str, Any]:
    return {"status": "ok", "service": "gateway", "pid": os.getpid()}


@router.get("/readyz", tags=["operations"], responses={503: {"description": "a department is not ready"}})
async def readyz(request: Request) -> Any:
    proxy: UpstreamProxy = request.app.state.proxy
    session = proxy.session

    async def check(name: str, base: str) -> tuple[str, str]:
        try:
            async with session.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return name, "ok" if resp.status == 200 else f"not ready ({resp.status})"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return name, f"unreachable ({type(exc).__name__})"

    results = dict(await asyncio.gather(*(check(n, u) for n, u in proxy.upstreams.items())))
    if all(v == "ok" for v in results.values()):
        return {"status": "ready", "service": "gateway", "checks": results}
    return problem(503, "not every department is ready", slug="not-ready", service="gateway", checks=results)


@router.get("/metrics", tags=["operations"], response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


MODULES = (identity, events, webhooks, overview, contracts, sitemap, console)


def build(settings: Settings | None = None) -> UpstreamProxy:
    settings = settings or get_settings()
    metrics = Metrics("gateway")
    upstreams = {name: service_url(settings, name) for name in DEPARTMENTS}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.admin_login()  # fail fast outside dev when no admin password is configured
        url = settings.database_url_for("gateway")
        if dbmod.is_postgres(url) and settings.env != "prod":
            await dbmod.ensure_postgres_database(url)
        database = Database(url, Model.metadata, settings=settings)
        await prepare_database(
            database, "gateway", migrations_of(models), settings
        )  # prod: refuses an unmigrated schema
        app.state.db = database
        await proxy.start()
        started = []
        try:
            for module in MODULES:
                await module.start(app)
                started.append(module)
            yield
        finally:
            for module in reversed(started):
                await module.stop(app)
            await proxy.close()
            await database.dispose()

    app = FastAPI(
        title="Hanse gateway",
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_problem_handlers(app)
    install_docs(app)  # Swagger UI and ReDoc from local files under /docs-assets: they work offline
    console.mount_static(app)  # the operations console (web/): its pages are the `console` module's routes
    app.add_middleware(EdgeMiddleware, metrics=metrics)
    app.include_router(router)
    for module in MODULES:
        app.include_router(module.router)
    # The edge: role matrix and rate limits are checked before a request is forwarded.
    proxy = UpstreamProxy(
        app, upstreams, settings=settings, metrics=metrics, matrix=RoleMatrix(), limits=GatewayLimits()
    )
    app.state.proxy = proxy
    return proxy


app = build()
