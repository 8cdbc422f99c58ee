"""The sales service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.sales import api, handlers, models
from services.sales.config import SalesConfig


def build(settings: Settings | None = None, config: SalesConfig | None = None) -> FastAPI:
    return create_service(
        "sales",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config or SalesConfig(),
        settings=settings,
    )


app = build()
