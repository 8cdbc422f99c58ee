"""HTTP routes of the compliance service under /api/v1/compliance."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/compliance", tags=["compliance"])
