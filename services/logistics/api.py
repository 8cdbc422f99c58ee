"""HTTP routes of the logistics service under /api/v1/logistics."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/logistics", tags=["logistics"])
