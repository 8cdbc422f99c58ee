"""HTTP routes of the marketing service under /api/v1/marketing."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/marketing", tags=["marketing"])
