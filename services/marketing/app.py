"""The marketing service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.ratelimit import RateLimiter
from hanse.settings import Settings
from services.marketing import api, handlers, models
from services.marketing.config import MarketingConfig


def build(settings: Settings | None = None, config: MarketingConfig | None = None) -> FastAPI:
    config = config or MarketingConfig()
    app = create_service(
        "marketing", routers=[api.router], handlers=handlers.HANDLERS, models=models, config=config, settings=settings
    )
    # One limiter per app: its counters live in this process (see docs/departments/marketing.md).
    app.state.lead_limiter = RateLimiter("lead-form", config.lead_rate_limit)
    return app


app = build()
