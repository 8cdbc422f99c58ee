"""Warehouses and their stock: opening a warehouse, receiving units (which fills back-orders), stock levels."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid, NotFound, PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.domain.fulfilment import backorders_needing, fill_backorders, wanted_lines
from services.logistics.domain.locks import ensure_stock_row, lock_stock
from services.logistics.models import (
    MAX_RECEIPT_QUANTITY,
    SKU_PATTERN,
    ReceiptCreate,
    ReceiptPublic,
    StockLevel,
    StockPublic,
    StockReceipt,
    Warehouse,
    WarehouseCreate,
)
from services.procurement.contract import GoodsAccepted

SKU = re.compile(SKU_PATTERN)


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
    warehouse = await _warehouse(uow.session, body.warehouse.upper())
    if warehouse is None:
        raise Invalid(f"no warehouse {body.warehouse}", field="warehouse")
    receipt, filled = await put_on_hand(uow, body.sku, warehouse.code, body.quantity)
    return views.receipt_public(receipt, filled)


async def put_on_hand(
    uow: UoW, sku: str, warehouse: str, quantity: int, reference: str | None = None
) -> tuple[StockReceipt, list[str]]:
    """Units arrive (a receipt, accepted goods, a restocked return): on hand, then back-orders FCFS."""
    session = uow.session
    await ensure_stock_row(session, sku, warehouse)
    candidates = await backorders_needing(session, {sku})
    wanted = await wanted_lines(session, (order.order_id for order in candidates))
    stock = await lock_stock(session, {sku} | {s for lines in wanted.values() for s in lines})
    stock[(sku, warehouse)].on_hand += quantity
    receipt = StockReceipt(
        id=new_id("rcp"), sku=sku, warehouse=warehouse, quantity=quantity, received_at=utcnow(), reference=reference
    )
    session.add(receipt)
    await uow.publish(views.stock_received(receipt, stock))
    filled = await fill_backorders(uow, candidates, stock, {sku})
    return receipt, filled


async def accept_goods(uow: UoW, goods: GoodsAccepted) -> str:
    """Procurement's QC passed units: on hand in the event's warehouse, back-orders first; once per inspection."""
    session = uow.session
    warehouse = await _warehouse(session, goods.warehouse.strip().upper())
    if warehouse is None:
        raise PermanentEventError(f"inspection {goods.inspection_id}: no warehouse {goods.warehouse}")
    booked = 0
    for line in sorted(goods.lines, key=lambda line: line.sku):
        if line.accepted <= 0:
            continue
        if not SKU.match(line.sku) or line.accepted > MAX_RECEIPT_QUANTITY:
            raise PermanentEventError(f"inspection {goods.inspection_id}: bad line {line.sku} x {line.accepted}")
        reference = f"inspection:{goods.inspection_id}:{line.sku}"[:120]
        if (await session.exec(select(StockReceipt.id).where(StockReceipt.reference == reference))).first():
            continue  # the same inspection, published again
        await put_on_hand(uow, line.sku, warehouse.code, line.accepted, reference)
        booked += 1
    return f"{booked} lines on hand"


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
