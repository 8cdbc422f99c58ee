"""Warehouses and their stock: opening a warehouse, receiving units (which fills back-orders), stock levels."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.domain.fulfilment import backorders_needing, fill_backorders, wanted_lines
from services.logistics.domain.locks import ensure_stock_row, lock_stock
from services.logistics.models import (
    ReceiptCreate,
    ReceiptPublic,
    StockLevel,
    StockPublic,
    StockReceipt,
    Warehouse,
    WarehouseCreate,
)


async def create_warehouse(uow: UoW, body: WarehouseCreate) -> Warehouse:
    session = uow.session
    if await _warehouse(session, body.code) is not None:
        raise Conflict(f"warehouse {body.code} exists", field="code")
    warehouse = Warehouse(id=new_id("wh"), code=body.code, name=body.name, country=body.country, created_at=utcnow())
    session.add(warehouse)
    try:
        await session.flush()
    except IntegrityError:
        # Another request created the same code between our check and our insert.
        raise Conflict(f"warehouse {body.code} exists", field="code") from None
    return warehouse


async def receive_stock(uow: UoW, body: ReceiptCreate) -> ReceiptPublic:
    """Book units into a warehouse and, in the same transaction, fill back-orders that now fit."""
    session = uow.session
    warehouse = await _warehouse(session, body.warehouse.upper())
    if warehouse is None:
        raise Invalid(f"no warehouse {body.warehouse}", field="warehouse")
    await ensure_stock_row(session, body.sku, warehouse.code)
    candidates = await backorders_needing(session, {body.sku})
    wanted = await wanted_lines(session, (order.order_id for order in candidates))
    stock = await lock_stock(session, {body.sku} | {sku for lines in wanted.values() for sku in lines})
    stock[(body.sku, warehouse.code)].on_hand += body.quantity
    receipt = StockReceipt(
        id=new_id("rcp"), sku=body.sku, warehouse=warehouse.code, quantity=body.quantity, received_at=utcnow()
    )
    session.add(receipt)
    await uow.publish(views.stock_received(receipt))
    filled = await fill_backorders(uow, candidates, stock, {body.sku})
    return views.receipt_public(receipt, filled)


# -- reads -----------------------------------------------------------------------------------------


async def _warehouse(session: AsyncSession, code: str) -> Warehouse | None:
    return (await session.exec(select(Warehouse).where(Warehouse.code == code))).first()


async def get_warehouse(session: AsyncSession, code: str) -> Warehouse:
    warehouse = await _warehouse(session, code.upper())
    if warehouse is None:
        raise NotFound(f"no warehouse {code}", field="code")
    return warehouse


async def stock_of(session: AsyncSession, sku: str) -> StockPublic:
    rows = (
        await session.exec(select(StockLevel).where(StockLevel.sku == sku).order_by(col(StockLevel.warehouse)))
    ).all()
    if not rows:
        raise NotFound(f"no stock of {sku} was ever received", field="sku")
    return views.stock_public(sku, rows)
