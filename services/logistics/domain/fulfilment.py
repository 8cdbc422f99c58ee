"""An order's fulfilment: reserve all or back-order on clearance, fill back-orders FCFS, release, payment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import NotFound
from hanse.events import utcnow
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.contract import ReservedLine, StockReleased, StockReserved, StockShort
from services.logistics.domain.locks import lock_order, lock_stock
from services.logistics.domain.rules import CARRIERS, allocate, order_weight_kg, wanted_quantities
from services.logistics.domain.shipments import book_shipment_if_ready, cancel_booked_shipment
from services.logistics.models import (
    FulfilmentOrder,
    FulfilmentPublic,
    OrderLineWanted,
    Reservation,
    Shipment,
    StockLevel,
)
from services.sales.contract import OrderTerms

Stock = dict[tuple[str, str], StockLevel]


async def reserve_cleared_order(uow: UoW, terms: OrderTerms) -> str:
    """On clearance reserve every line or nothing (back-order); returns what happened."""
    session = uow.session
    order = await lock_order(session, terms.order_id)
    if order is not None and (order.cleared or order.status in ("cancelled", "rejected")):
        return "ignored"  # cleared twice, or the cancel/rejection overtook the clearance (tombstone)
    wanted = wanted_quantities(terms.lines)
    if order is None:
        order = FulfilmentOrder(order_id=terms.order_id, status="pending")
    order.cleared = True
    order.cleared_at = utcnow()
    order.payment_terms = terms.payment_terms
    order.incoterm = terms.incoterm.upper()
    order.destination_country = terms.destination_country.upper()
    order.weight_kg = order_weight_kg(terms.lines)
    quoted = getattr(terms, "mode", None)  # optional in sales' OrderTerms
    order.quoted_mode = quoted if quoted in CARRIERS else None
    session.add(order)
    for sku, quantity in wanted.items():
        session.add(OrderLineWanted(order_id=order.order_id, sku=sku, quantity=quantity))
    await session.flush()

    stock = await lock_stock(session, wanted)
    available = _available(stock)
    allocation = allocate(wanted, available)
    if allocation.complete:
        _hold(stock, allocation.reserved, available)
        await _reserve(uow, order, allocation.reserved, from_backorder=False)
        return "reserved"
    order.status = "backordered"
    order.backordered_at = utcnow()
    await uow.publish(StockShort(order_id=order.order_id, lines=allocation.short), correlation_id=order.order_id)
    return "backordered"


async def close_order(uow: UoW, order_id: str, outcome: str, reason: str | None) -> str:
    """Cancel or reject: release reservations (and a booked shipment), drop a back-order, or leave a tombstone."""
    session = uow.session
    now = utcnow()
    why = f"{outcome}: {reason}" if reason else outcome
    order = await lock_order(session, order_id)
    if order is None:
        session.add(FulfilmentOrder(order_id=order_id, status=outcome, closed_at=now, closed_reason=why))  # type: ignore[arg-type]
        return "tombstone"
    if order.status in ("cancelled", "rejected", "dispatched"):
        return "ignored"  # closed already; after dispatch sales refuses a cancel
    previous = order.status
    order.status, order.closed_at, order.closed_reason = outcome, now, why  # type: ignore[assignment]
    session.add(order)
    if previous != "reserved":
        return "dropped"  # pending or back-ordered: nothing is held

    await cancel_booked_shipment(uow, order_id, why, now)
    held = list((await session.exec(select(Reservation).where(Reservation.order_id == order_id))).all())
    skus = {line.sku for line in held}
    candidates = [c for c in await backorders_needing(session, skus) if c.order_id != order_id]
    wanted = await wanted_lines(session, (c.order_id for c in candidates))
    stock = await lock_stock(session, skus | {sku for lines in wanted.values() for sku in lines})
    released = views.reserved_lines(held)
    for line in released:
        stock[(line.sku, line.warehouse)].reserved -= line.quantity
    await uow.publish(StockReleased(order_id=order_id, lines=released, reason=why), correlation_id=order_id)
    # Released units are stock arriving for everyone else: fill back-orders with them, FCFS.
    await fill_backorders(uow, candidates, stock, skus)
    return "released"


async def record_invoice_paid(uow: UoW, order_id: str) -> str:
    order = await lock_order(uow.session, order_id)
    if order is None:
        # Payment overtook the clearance: remember it for when the order is cleared.
        uow.session.add(FulfilmentOrder(order_id=order_id, status="pending", invoice_paid=True))
        return "remembered"
    if order.invoice_paid or order.status in ("cancelled", "rejected"):
        return "ignored"
    order.invoice_paid = True
    uow.session.add(order)
    booked = await book_shipment_if_ready(uow, order)
    return "booked" if booked else "recorded"


async def fill_backorders(
    uow: UoW, candidates: list[FulfilmentOrder], stock: Stock, trigger_skus: set[str]
) -> list[str]:
    """Reserve back-orders FCFS; one that still cannot be filled keeps its place, later ones may fit."""
    session = uow.session
    # A back-order recorded after we read the candidates (its transaction held our stock rows) joins
    # in its FCFS place; it may want SKUs we hold no lock on yet, so lock those too (sorted).
    latest = await backorders_needing(session, trigger_skus)
    known = {order.order_id for order in candidates}
    candidates = [*candidates, *(order for order in latest if order.order_id not in known)]
    candidates.sort(key=lambda o: (o.backordered_at or utcnow(), o.order_id))
    wanted = await wanted_lines(session, (order.order_id for order in candidates))
    missing = {sku for lines in wanted.values() for sku in lines} - {sku for sku, _ in stock}
    if missing:
        stock.update(await lock_stock(session, missing))
    available = _available(stock)
    filled: list[str] = []
    for candidate in candidates:
        order = await lock_order(session, candidate.order_id)
        if order is None or order.status != "backordered":
            continue  # cancelled, or filled by another transaction, since we read it
        allocation = allocate(wanted[order.order_id], available)
        if not allocation.complete:
            continue
        _hold(stock, allocation.reserved, available)
        await _reserve(uow, order, allocation.reserved, from_backorder=True)
        filled.append(order.order_id)
    return filled


async def _reserve(uow: UoW, order: FulfilmentOrder, lines: list[ReservedLine], *, from_backorder: bool) -> None:
    for line in lines:
        uow.session.add(
            Reservation(order_id=order.order_id, sku=line.sku, warehouse=line.warehouse, quantity=line.quantity)
        )
    order.status = "reserved"
    order.reserved_at = utcnow()
    uow.session.add(order)
    await uow.publish(
        StockReserved(order_id=order.order_id, lines=lines, from_backorder=from_backorder),
        correlation_id=order.order_id,
    )
    await book_shipment_if_ready(uow, order)


def _available(stock: Mapping[tuple[str, str], StockLevel]) -> dict[tuple[str, str], int]:
    return {key: row.on_hand - row.reserved for key, row in stock.items()}


def _hold(stock: Mapping[tuple[str, str], StockLevel], lines: Iterable[ReservedLine], available: dict) -> None:
    for line in lines:
        row = stock[(line.sku, line.warehouse)]
        row.reserved += line.quantity
        available[(line.sku, line.warehouse)] -= line.quantity


# -- reads -----------------------------------------------------------------------------------------


async def wanted_lines(session: AsyncSession, order_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """Units wanted per SKU, per order."""
    ids = list(order_ids)
    wanted: dict[str, dict[str, int]] = {order_id: {} for order_id in ids}
    if ids:
        rows = await session.exec(select(OrderLineWanted).where(col(OrderLineWanted.order_id).in_(ids)))
        for line in rows.all():
            wanted[line.order_id][line.sku] = line.quantity
    return wanted


async def backorders_needing(session: AsyncSession, skus: Iterable[str]) -> list[FulfilmentOrder]:
    """Back-ordered orders that want any of `skus`, first come first served."""
    needing = select(OrderLineWanted.order_id).where(col(OrderLineWanted.sku).in_(sorted(set(skus))))
    query = (
        select(FulfilmentOrder)
        .where(FulfilmentOrder.status == "backordered", col(FulfilmentOrder.order_id).in_(needing))
        .order_by(col(FulfilmentOrder.backordered_at), col(FulfilmentOrder.order_id))
    )
    return list((await session.exec(query)).all())


async def fulfilment_of(session: AsyncSession, order_id: str) -> FulfilmentPublic:
    order = await session.get(FulfilmentOrder, order_id)
    if order is None:
        raise NotFound(f"logistics knows no order {order_id}", field="order_id")
    wanted = (await wanted_lines(session, [order_id]))[order_id]
    held = (await session.exec(select(Reservation).where(Reservation.order_id == order_id))).all()
    shipment_id = (await session.exec(select(Shipment.id).where(Shipment.order_id == order_id))).first()
    return views.fulfilment_public(order, wanted, held, shipment_id)
