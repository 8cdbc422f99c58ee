"""The compliance service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from hanse.app import ServiceRuntime, create_service
from hanse.settings import Settings
from services.compliance import api, domain, handlers

log = logging.getLogger("hanse.compliance")


async def load_sanctions(runtime: ServiceRuntime) -> None:
    """Fill an empty sanctions table: HANSE_SANCTIONS_CSV if set, else the fictitious sample (not in prod)."""
    configured = domain.compliance_settings().sanctions_csv
    if configured is None and runtime.settings.env == "prod":
        return
    path = configured or domain.SAMPLE_SANCTIONS
    try:
        async with runtime.db.session() as session:
            imported = await domain.load_sanctions_if_empty(session, path)
            await session.commit()
    except IntegrityError:
        # Another replica loaded it at the same moment.
        return
    if imported:
        log.info("compliance: loaded %d sanctions entities from %s", imported, path)


def build(settings: Settings | None = None) -> FastAPI:
    domain.compliance_settings()  # fail fast on a bad HANSE_EMBARGOED_COUNTRIES / threshold
    app = create_service("compliance", routers=[api.router], handlers=handlers.HANDLERS, settings=settings)
    kernel_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kernel_lifespan(app):
            await load_sanctions(app.state.runtime)
            yield

    app.router.lifespan_context = lifespan
    return app


app = build()
