"""The procurement service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.procurement import api, handlers, models
from services.procurement.config import ProcurementConfig


def build(settings: Settings | None = None, config: ProcurementConfig | None = None) -> FastAPI:
    return create_service(
        "procurement",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config or ProcurementConfig(),
        settings=settings,
        templates=Path(__file__).parent / "templates",
    )


app = build()
