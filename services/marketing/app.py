"""The marketing service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.marketing import api, domain, handlers


def build(settings: Settings | None = None, marketing: domain.MarketingSettings | None = None) -> FastAPI:
    app = create_service("marketing", routers=[api.router], handlers=handlers.HANDLERS, settings=settings)
    app.state.marketing = marketing or domain.MarketingSettings()
    # One limiter per app: its counters live in this process (run one replica per gateway, or
    # accept a per-replica limit; see docs/departments/marketing.md).
    app.state.lead_limiter = domain.LeadRateLimiter(app.state.marketing.lead_rate_limit)
    return app


app = build()
