"""Gateway: identity."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

router = APIRouter()


async def start(app: FastAPI) -> None:
    """Called once the gateway's database and upstream client are up."""


async def stop(app: FastAPI) -> None:
    """Called on shutdown, before the database closes."""
