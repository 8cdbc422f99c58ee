"""The sales service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.sales import api, domain, handlers


def build(settings: Settings | None = None, policy: domain.QuotePolicy | None = None) -> FastAPI:
    app = create_service("sales", routers=[api.router], handlers=handlers.HANDLERS, settings=settings)
    # Quote validity and insurance rate (HANSE_SALES_*), read once so a bad value fails at start.
    app.state.quote_policy = policy or domain.QuotePolicy()
    return app


app = build()
