"""The finance service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hanse.app import create_service
from hanse.ratelimit import RateLimiter
from hanse.settings import Settings
from services.finance import api, handlers, models
from services.finance.config import FinanceConfig


def build(settings: Settings | None = None, config: FinanceConfig | None = None) -> FastAPI:
    config = config or FinanceConfig()
    app = create_service(
        "finance",
        routers=[api.router, api.webhooks],
        handlers=handlers.HANDLERS,
        models=models,
        config=config,
        settings=settings,
        templates=Path(__file__).parent / "templates",
    )
    app.state.webhook_limiter = RateLimiter("finance-webhooks", config.webhook_rate_limit)
    return app


app = build()
