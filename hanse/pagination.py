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
    """The key a cursor stands for; anything this API did not issue is a 422 naming `cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # validate=True: the lenient decoder would silently skip characters outside the alphabet.
        value = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (ValueError, UnicodeError):
        raise Invalid("cursor is not one this API issued", field="cursor") from None
    if not value or not value.isprintable():
        raise Invalid("cursor is not one this API issued", field="cursor")
    return value


async def paginate(session: AsyncSession, query: Select, key: Any, cursor: str | None, limit: int) -> Page:
    """Keyset pagination over a unique, sortable column `key` (ids or created_at+id strings)."""
    if cursor:
        query = query.where(key > decode_cursor(cursor))
    rows = list((await session.exec(query.order_by(key).limit(limit + 1))).all())  # type: ignore[call-overload]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
