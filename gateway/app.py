"""Gateway app: proxies /api/v1/<dept>/... to the departments; issues tokens; reports readiness."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiohttp
from fastapi import APIRouter, FastAPI, Form, Request
from pydantic import BaseModel
from starlette.responses import Response

from gateway import contracts, events, identity, overview, webhooks
from gateway.models import Model
from gateway.proxy import UpstreamProxy
from hanse import db as dbmod
from hanse.auth import AuthError, issue_token
from hanse.db import Database
from hanse.http import EdgeMiddleware, install_problem_handlers, problem
from hanse.metrics import CONTENT_TYPE_LATEST, Metrics
from hanse.settings import Settings, get_settings
from hanse.topology import DEPARTMENTS


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


router = APIRouter()


@router.post(
    "/api/v1/auth/token",
    tags=["auth"],
    summary="OAuth2 password grant: log in and get a bearer token",
    responses={401: {"description": "wrong username or password"}},
)
async def token(
    request: Request,
    username: Annotated[str, Form(min_length=1, max_length=200)],
    password: Annotated[str, Form(min_length=1, max_length=1000)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> Token:
    settings: Settings = request.app.state.settings
    admin_user, admin_password = settings.admin_login()
    user_ok = secrets.compare_digest(username.encode(), admin_user.encode())
    password_ok = secrets.compare_digest(password.encode(), admin_password.encode())
    if not (user_ok and password_ok):
        raise AuthError("wrong username or password")
    access_token, ttl = issue_token(username, ["admin"], settings)
    return Token(access_token=access_token, expires_in=ttl)


@router.get("/livez", tags=["operations"])
async def livez() -> dict[str, Any]:
    return {"status": "ok", "service": "gateway", "pid": os.getpid()}


@router.get("/readyz", tags=["operations"], responses={503: {"description": "a department is not ready"}})
async def readyz(request: Request) -> Any:
    proxy: UpstreamProxy = request.app.state.proxy
    session = proxy._session
    assert session is not None

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


MODULES = (identity, events, webhooks, overview, contracts)


def build(settings: Settings | None = None) -> UpstreamProxy:
    settings = settings or get_settings()
    metrics = Metrics("gateway")
    upstreams = {name: settings.service_url(name) for name in DEPARTMENTS}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.admin_login()  # fail fast outside dev when no admin password is configured
        url = settings.database_url_for("gateway")
        if dbmod.is_postgres(url) and settings.env != "prod":
            await dbmod.ensure_postgres_database(url)
        database = Database(url, Model.metadata, settings=settings)
        await database.create_all()
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

    app = FastAPI(title="Hanse gateway", version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    install_problem_handlers(app)
    app.add_middleware(EdgeMiddleware, metrics=metrics)
    app.include_router(router)
    for module in MODULES:
        app.include_router(module.router)
    proxy = UpstreamProxy(app, upstreams, metrics=metrics)
    app.state.proxy = proxy
    return proxy


app = build()
