"""The compliance service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from hanse.app import ServiceRuntime, create_service
from hanse.http import EdgeMiddleware
from hanse.metrics import Metrics
from hanse.scheduler import Job
from hanse.settings import Settings
from hanse.uow import UnitOfWork
from services.compliance import api, handlers, models
from services.compliance.config import ComplianceConfig
from services.compliance.domain import contracts, rescreening, sanctions
from services.compliance.domain.exports import load_default_rules
from services.compliance.domain.sanctions import load_sanctions_if_empty

log = logging.getLogger("hanse.compliance")


async def load_sanctions(runtime: ServiceRuntime) -> None:
    """Fill an empty sanctions table: HANSE_SANCTIONS_CSV if set, else the fictitious sample (not in prod)."""
    path = runtime.config.sanctions_file(runtime.settings.env)
    if path is None:
        return
    try:
        async with runtime.db.session() as session:
            uow = UnitOfWork(session, runtime.settings, runtime.config)
            imported = await load_sanctions_if_empty(uow, path)
            await uow.commit()
    except IntegrityError:
        # Another replica loaded it at the same moment.
        return
    if imported:
        log.info("compliance: loaded %d sanctions entities from %s", imported, path)


async def load_export_rules(runtime: ServiceRuntime) -> None:
    """Seed an empty export-control table with the shipped starting set."""
    try:
        async with runtime.db.session() as session:
            uow = UnitOfWork(session, runtime.settings, runtime.config)
            loaded = await load_default_rules(uow)
            await uow.commit()
    except IntegrityError:
        return  # another replica seeded it at the same moment
    if loaded:
        log.info("compliance: loaded %d default export-control rules", loaded)


IMPORT_PATH = "/api/v1/compliance/sanctions/import"


class UploadAwareEdge(EdgeMiddleware):
    """The kernel's edge middleware with a larger body limit on the sanctions upload only.

    A full sanctions list is hundreds of MB; the kernel's 1 MiB limit stays on every other route.
    (A kernel option for per-route limits would replace this; named in the department docs.)
    """

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, upload_limit: int = 0, **kwargs: Any) -> None:
        super().__init__(app, metrics, **kwargs)
        self.uploads = EdgeMiddleware(app, metrics, max_body_bytes=upload_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == IMPORT_PATH:
            await self.uploads(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _raise_upload_limit(app: FastAPI, limit: int) -> None:
    for i, entry in enumerate(app.user_middleware):
        if entry.cls is EdgeMiddleware:
            app.user_middleware[i] = Middleware(UploadAwareEdge, *entry.args, **entry.kwargs, upload_limit=limit)


def build(settings: Settings | None = None, config: ComplianceConfig | None = None) -> FastAPI:
    # ComplianceConfig() fails fast on a bad HANSE_EMBARGOED_COUNTRIES or threshold.
    config = config or ComplianceConfig()
    app = create_service(
        "compliance",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config,
        settings=settings,
        startup=[load_export_rules, load_sanctions],
        jobs=[
            Job("sanctions-imports", every_seconds=1, run=sanctions.run_pending_imports),
            # A list change re-screens every open subject within seconds (the contract: within 60 s).
            Job("rescreen", every_seconds=config.rescreen_every_seconds, run=rescreening.rescreen_all),
            Job("expire-contracts", every_seconds=300, run=contracts.expire_contracts),
        ],
    )
    _raise_upload_limit(app, config.sanctions_upload_max_mb * 1024 * 1024)
    return app


app = build()
