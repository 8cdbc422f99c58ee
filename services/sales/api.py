"""HTTP routes of the sales service under /api/v1/sales."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/sales", tags=["sales"])
