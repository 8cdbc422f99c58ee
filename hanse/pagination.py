"""Cursor pagination: `{"items": [...], "next_cursor": "<opaque or null>"}`."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Invalid

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise Invalid("cursor is not one this API issued", field="cursor") from None


async def paginate(session: AsyncSession, query: Select, key: Any, cursor: str | None, limit: int) -> Page:
    """Keyset pagination over a unique, sortable column `key` (ids or created_at+id strings)."""
    if cursor:
        query = query.where(key > decode_cursor(cursor))
    rows = list((await session.exec(query.order_by(key).limit(limit + 1))).all())  # type: ignore[call-overload]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
