"""Returns (RMA): request → authorize → receive → inspect; restocked units go back on hand (back-orders first)."""

from __future__ import annotations

import secrets

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.contract import ReturnInspected, ReturnLine, ReturnRequested
from services.logistics.domain.fulfilment import wanted_lines
from services.logistics.domain.locks import lock_order
from services.logistics.domain.rules import return_violations
from services.logistics.domain.stock import put_on_hand
from services.logistics.models import (
    Reservation,
    ReturnCreate,
    ReturnInspect,
    ReturnItem,
    ReturnPublic,
    ReturnReceive,
    ReturnRequest,
    Shipment,
    StockLevel,
    Warehouse,
)


async def request_return(uow: UoW, body: ReturnCreate) -> ReturnPublic:
    """A return of (part of) a delivered order; never more than was shipped and not yet returned."""
    session = uow.session
    order = await lock_order(session, body.order_id)
    if order is None:
        raise NotFound(f"logistics knows no order {body.order_id}", field="order_id")
    shipment = (await session.exec(select(Shipment).where(Shipment.order_id == body.order_id))).first()
    if shipment is None or shipment.status != "delivered":
        state = shipment.status if shipment else "not shipped"
        raise Conflict(
            f"order {body.order_id} is not delivered ({state}); only delivered goods are returned", field="order_id"
        )
    shipped = (await wanted_lines(session, [body.order_id]))[body.order_id]
    already = await _returned_so_far(session, body.order_id)
    problems = return_violations(shipped, already, [(line.sku, line.quantity) for line in body.lines])
    if problems:
        index, why = problems[0]
        field = "sku" if "not shipped" in why else "quantity"
        raise Invalid(why, field=f"lines.{index}.{field}")
    now = utcnow()
    rma = ReturnRequest(
        id=new_id("ret"),
        rma_number=f"RMA-{now:%Y%m%d}-{secrets.token_hex(3).upper()}",
        order_id=body.order_id,
        status="requested",
        reason=body.reason,
        created_at=now,
    )
    session.add(rma)
    quantities: dict[str, int] = {}
    for line in body.lines:
        quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    items = [ReturnItem(return_id=rma.id, sku=sku, quantity=q) for sku, q in sorted(quantities.items())]
    session.add_all(items)
    lines = [ReturnLine(sku=i.sku, quantity=i.quantity) for i in items]
    requested = ReturnRequested(
        return_id=rma.id, rma_number=rma.rma_number, order_id=rma.order_id, lines=lines, reason=rma.reason
    )
    await uow.publish(requested, correlation_id=rma.order_id)
    return views.return_public(rma, items)


async def authorize_return(uow: UoW, return_id: str) -> ReturnPublic:
    rma, items = await _locked(uow.session, return_id, "requested", "authorize")
    rma.status, rma.authorized_at = "authorized", utcnow()
    uow.session.add(rma)
    return views.return_public(rma, items)


async def receive_return(uow: UoW, return_id: str, body: ReturnReceive) -> ReturnPublic:
    """The parcel arrived: per SKU the units that came (without lines, all that were asked back)."""
    rma, items = await _locked(uow.session, return_id, "authorized", "receive")
    by_sku = {i.sku: i for i in items}
    arrived = {i.sku: i.quantity for i in items}
    if body.lines is not None:
        arrived = dict.fromkeys(by_sku, 0)
        for index, line in enumerate(body.lines):
            item = by_sku.get(line.sku)
            if item is None:
                raise Invalid(f"{line.sku} is not on return {rma.rma_number}", field=f"lines.{index}.sku")
            arrived[line.sku] += line.quantity
            if arrived[line.sku] > item.quantity:
                raise Invalid(
                    f"{arrived[line.sku]} of {line.sku} received, but {item.quantity} were asked back",
                    field=f"lines.{index}.quantity",
                )
    for sku, quantity in arrived.items():
        by_sku[sku].received = quantity
        uow.session.add(by_sku[sku])
    rma.status, rma.received_at = "received", utcnow()
    uow.session.add(rma)
    return views.return_public(rma, items)


async def inspect_return(uow: UoW, return_id: str, body: ReturnInspect) -> ReturnPublic:
    """Restock or scrap each received unit; restocked ones are on hand again and fill back-orders first."""
    session = uow.session
    rma, items = await _locked(session, return_id, "received", "inspect")
    by_sku = {i.sku: i for i in items}
    decided: dict[str, tuple[int, int]] = {}
    for index, line in enumerate(body.lines):
        item = by_sku.get(line.sku)
        if item is None:
            raise Invalid(f"{line.sku} is not on return {rma.rma_number}", field=f"lines.{index}.sku")
        restock, scrap = decided.get(line.sku, (0, 0))
        restock, scrap = restock + line.restock, scrap + line.scrap
        if restock + scrap > item.received:
            raise Invalid(
                f"{restock + scrap} of {line.sku} inspected, but {item.received} were received",
                field=f"lines.{index}.restock",
            )
        decided[line.sku] = (restock, scrap)
    for sku, (restock, scrap) in sorted(decided.items()):
        item = by_sku[sku]
        item.restocked, item.scrapped = restock, scrap
        session.add(item)
        if restock:
            warehouse = await _restock_warehouse(session, rma.order_id, sku)
            await put_on_hand(uow, sku, warehouse, restock, reference=f"return:{rma.id}:{sku}"[:120])
    rma.status, rma.inspected_at = "inspected", utcnow()
    session.add(rma)
    await session.flush()
    shipped = (await wanted_lines(session, [rma.order_id]))[rma.order_id]
    back = await _returned_so_far(session, rma.order_id, inspected_only=True)
    fully = all(back.get(sku, 0) >= quantity for sku, quantity in shipped.items())
    lines = [ReturnLine(sku=i.sku, quantity=i.received, restocked=i.restocked, scrapped=i.scrapped) for i in items]
    inspected = ReturnInspected(
        return_id=rma.id, rma_number=rma.rma_number, order_id=rma.order_id, lines=lines, order_fully_returned=fully
    )
    await uow.publish(inspected, correlation_id=rma.order_id)
    return views.return_public(rma, items)


# -- helpers and reads -------------------------------------------------------------------------------


async def _locked(
    session: AsyncSession, return_id: str, expected: str, action: str
) -> tuple[ReturnRequest, list[ReturnItem]]:
    found = await session.get(ReturnRequest, return_id)
    if found is None:
        raise NotFound(f"no return {return_id}", field="return_id")
    await lock_order(session, found.order_id)  # the lock order: the order's row first
    query = (
        select(ReturnRequest)
        .where(ReturnRequest.id == return_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    rma = (await session.exec(query)).one()
    if rma.status != expected:
        raise Conflict(
            f"return {rma.rma_number} is {rma.status}; only a {expected} return can {action}", field="status"
        )
    items = list(
        (
            await session.exec(select(ReturnItem).where(ReturnItem.return_id == rma.id).order_by(col(ReturnItem.sku)))
        ).all()
    )
    return rma, items


async def _returned_so_far(session: AsyncSession, order_id: str, *, inspected_only: bool = False) -> dict[str, int]:
    """Units per SKU on the order's returns: received on inspected ones, asked on open ones."""
    rows = (
        await session.exec(
            select(ReturnRequest, ReturnItem)
            .join(ReturnItem, col(ReturnItem.return_id) == col(ReturnRequest.id))
            .where(ReturnRequest.order_id == order_id)
        )
    ).all()
    out: dict[str, int] = {}
    for rma, item in rows:
        if rma.status == "inspected":
            out[item.sku] = out.get(item.sku, 0) + item.received
        elif not inspected_only:
            out[item.sku] = out.get(item.sku, 0) + item.quantity
    return out


async def _restock_warehouse(session: AsyncSession, order_id: str, sku: str) -> str:
    """Where the units shipped from; else where the SKU is kept; else the first warehouse."""
    shipped_from = (
        await session.exec(
            select(Reservation.warehouse).where(Reservation.order_id == order_id, Reservation.sku == sku)
        )
    ).first()
    if shipped_from:
        return shipped_from
    kept = (
        await session.exec(
            select(StockLevel.warehouse).where(StockLevel.sku == sku).order_by(col(StockLevel.on_hand).desc())
        )
    ).first()
    if kept:
        return kept
    first = (await session.exec(select(Warehouse.code).order_by(col(Warehouse.code)))).first()
    if first is None:
        raise Conflict("no warehouse is open to restock into", field="lines")
    return first


async def get_return(session: AsyncSession, return_id: str) -> ReturnPublic:
    rma = await session.get(ReturnRequest, return_id)
    if rma is None:
        raise NotFound(f"no return {return_id}", field="return_id")
    items = (
        await session.exec(select(ReturnItem).where(ReturnItem.return_id == rma.id).order_by(col(ReturnItem.sku)))
    ).all()
    return views.return_public(rma, items)


async def returns_public(session: AsyncSession, returns: list[ReturnRequest]) -> list[ReturnPublic]:
    ids = [r.id for r in returns]
    items = (await session.exec(select(ReturnItem).where(col(ReturnItem.return_id).in_(ids)))).all() if ids else []
    return [views.return_public(r, [i for i in items if i.return_id == r.id]) for r in returns]
