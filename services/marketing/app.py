"""The marketing service: its routes, event handlers and timed work, wired by the kernel."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hanse.app import create_service
from hanse.ratelimit import RateLimiter
from hanse.scheduler import Job
from hanse.settings import Settings, get_settings
from services.marketing import api, handlers, models
from services.marketing.config import MarketingConfig
from services.marketing.domain import newsletters, nurture


def build(settings: Settings | None = None, config: MarketingConfig | None = None) -> FastAPI:
    settings = settings or get_settings()
    config = (config or MarketingConfig()).resolve(settings)  # no secret outside dev/test: refuse to start
    jobs = [
        Job("newsletter-batches", every_seconds=config.newsletter_every_seconds, run=newsletters.fan_out),
        Job("nurture-steps", every_seconds=config.nurture_every_seconds, run=nurture.send_due_steps),
    ]
    app = create_service(
        "marketing",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config,
        settings=settings,
        jobs=jobs,
        templates=Path(__file__).parent / "templates",
    )
    # One limiter per app: its counters live in this process (see docs/departments/marketing.md).
    app.state.lead_limiter = RateLimiter("lead-form", config.lead_rate_limit)
    app.state.subscribe_limiter = RateLimiter("subscribe-form", config.subscribe_rate_limit)
    app.state.link_limiter = RateLimiter("marketing-links", config.link_rate_limit)
    return app


app = build()
