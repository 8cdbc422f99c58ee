"""The logistics service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from hanse.app import ServiceRuntime, create_service
from hanse.ratelimit import RateLimiter
from hanse.settings import Settings
from services.logistics import api, handlers, models
from services.logistics.config import LogisticsConfig
from services.logistics.domain.carriers import secrets_for


async def _carrier_secrets(runtime: ServiceRuntime) -> None:
    """Read the carriers' secrets once at start: a malformed or unknown entry fails the start; dev and test
    generate missing ones now, prod logs each carrier left without one (its events are refused)."""
    secrets_for(runtime.settings, runtime.config)


def build(settings: Settings | None = None, config: LogisticsConfig | None = None) -> FastAPI:
    config = config or LogisticsConfig()
    app = create_service(
        "logistics",
        routers=[api.router],
        handlers=handlers.HANDLERS,
        models=models,
        config=config,
        settings=settings,
        templates=Path(__file__).parent / "templates",
        startup=[_carrier_secrets],
    )
    app.state.carrier_event_limiter = RateLimiter("carrier-events", config.carrier_event_rate_limit)
    return app


app = build()
