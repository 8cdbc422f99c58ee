"""Reading rows for an answer: cursor pages (`{"items": [...], "next_cursor": ...}`) and get-or-404."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Invalid, NotFound

T = TypeVar("T")
U = TypeVar("U")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None

    def map(self, present: Callable[[T], U]) -> Page[U]:
        """The same page with every row turned into its answer (`page.map(views.invoice_public)`)."""
        return Page[U](items=[present(item) for item in self.items], next_cursor=self.next_cursor)


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


async def get_or_404(session: AsyncSession, model: type[T], key: Any, *, what: str, field: str) -> T:
    """The row with primary key `key`, or a 404 problem naming the field ("no invoice inv_...")."""
    row = await session.get(model, key)
    if row is None:
        raise NotFound(f"no {what} {key}", field=field)
    return row


async def paginate(
    session: AsyncSession,
    query: Select,
    key: Any,
    cursor: str | None,
    limit: int,
    *,
    filters: Mapping[Any, Any] | None = None,
) -> Page:
    """Keyset pagination over a unique, sortable column `key` (ids or created_at+id strings).

    `filters` maps columns to the values a list was asked for; a None value means "not filtered".
    """
    for column, value in (filters or {}).items():
        if value is not None:
            query = query.where(column == value)
    if cursor:
        query = query.where(key > decode_cursor(cursor))
    rows = list((await session.exec(query.order_by(key).limit(limit + 1))).all())  # type: ignore[call-overload]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(getattr(rows[-1], key.key)) if more and rows else None
    return Page(items=rows, next_cursor=next_cursor)
