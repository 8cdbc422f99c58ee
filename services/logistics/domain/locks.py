"""The row locks every logistics transaction takes, always in one order so two never wait on each other.

Lock order, everywhere: the order's fulfilment row → its shipment → stock rows sorted by
(sku, warehouse) in one statement → fulfilment rows of back-orders being filled. On SQLite the
whole transaction is already serialised (BEGIN IMMEDIATE); FOR UPDATE compiles to nothing there.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import upsert
from services.logistics.models import FulfilmentOrder, Shipment, StockLevel


async def lock_order(session: AsyncSession, order_id: str) -> FulfilmentOrder | None:
    query = (
        select(FulfilmentOrder)
        .where(FulfilmentOrder.order_id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.exec(query)).first()


async def lock_shipment(session: AsyncSession, **where: str) -> Shipment | None:
    query = select(Shipment).with_for_update().execution_options(populate_existing=True)
    for name, value in where.items():
        query = query.where(getattr(Shipment, name) == value)
    return (await session.exec(query)).first()


async def lock_stock(session: AsyncSession, skus: Iterable[str]) -> dict[tuple[str, str], StockLevel]:
    skus = sorted(set(skus))
    if not skus:
        return {}
    query = (
        select(StockLevel)
        .where(col(StockLevel.sku).in_(skus))
        .order_by(col(StockLevel.sku), col(StockLevel.warehouse))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {(row.sku, row.warehouse): row for row in (await session.exec(query)).all()}


async def ensure_stock_row(session: AsyncSession, sku: str, warehouse: str) -> None:
    """Create the (sku, warehouse) row if missing, so a receipt finds a row to lock."""
    statement = (
        upsert(session, StockLevel)
        .values(sku=sku, warehouse=warehouse, on_hand=0, reserved=0)
        .on_conflict_do_nothing(index_elements=["sku", "warehouse"])
    )
    await session.exec(statement)
