"""The compliance service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from hanse.app import ServiceRuntime, create_service
from hanse.settings import Settings
from hanse.uow import UnitOfWork
from services.compliance import api, handlers, models
from services.compliance.config import ComplianceConfig
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


def build(settings: Settings | None = None, config: ComplianceConfig | None = None) -> FastAPI:
    # ComplianceConfig() fails fast on a bad HANSE_EMBARGOED_COUNTRIES or threshold.
    return create_service(
        "compliance",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config or ComplianceConfig(),
        settings=settings,
        startup=[load_export_rules, load_sanctions],
    )


app = build()
