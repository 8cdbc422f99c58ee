"""The finance service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.finance import api, handlers, models
from services.finance.config import FinanceConfig


def build(settings: Settings | None = None, config: FinanceConfig | None = None) -> FastAPI:
    return create_service(
        "finance",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config or FinanceConfig(),
        settings=settings,
        templates=Path(__file__).parent / "templates",
    )


app = build()
