"""The marketing service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.marketing import api, handlers


def build(settings: Settings | None = None) -> FastAPI:
    return create_service("marketing", routers=[api.router], handlers=handlers.HANDLERS, settings=settings)


app = build()
