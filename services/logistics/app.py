"""The logistics service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.logistics import api, handlers, models
from services.logistics.config import LogisticsConfig


def build(settings: Settings | None = None, config: LogisticsConfig | None = None) -> FastAPI:
    return create_service(
        "logistics",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config or LogisticsConfig(),
        settings=settings,
    )


app = build()
