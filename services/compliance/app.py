"""The compliance service: its routes and event handlers, wired by the kernel."""

from __future__ import annotations

from fastapi import FastAPI

from hanse.app import create_service
from hanse.settings import Settings
from services.compliance import api, handlers


def build(settings: Settings | None = None) -> FastAPI:
    return create_service("compliance", routers=[api.router], handlers=handlers.HANDLERS, settings=settings)


app = build()
