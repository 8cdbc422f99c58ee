"""HTTP routes of the finance service under /api/v1/finance."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/finance", tags=["finance"])
