"""An order's fulfilment: reserve all or back-order on clearance, fill back-orders FCFS, release, payment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import NotFound
from hanse.events import utcnow
from services.finance.contract import LetterOfCreditRecorded
from services.logistics import views
from services.logistics.config import UoW
from services.logistics.contract import ReservedLine, StockReleased, StockReserved, StockShort
from services.logistics.domain.locks import lock_order, lock_stock
from services.logistics.domain.rules import MODES, allocate, carriers, order_weight_kg, wanted_quantities
from services.logistics.domain.shipments import book_shipment_if_ready, cancel_booked_shipment
from services.logistics.models import (
    CustomsLine,
    FulfilmentOrder,
    FulfilmentPublic,
    LetterOfCredit,
    OrderLineWanted,
    Reservation,
    ReturnItem,
    ReturnRequest,
    Shipment,
    StockLevel,
)
from services.sales.contract import OrderLine, OrderTerms

Stock = dict[tuple[str, str], StockLevel]


async def reserve_cleared_order(uow: UoW, terms: OrderTerms) -> str:
    """On clearance reserve every line or nothing (back-order); returns what happened.

    A second clearance of a cleared order is compliance lifting a hold it placed after clearing
    (re-screening, export control): the hold goes, nothing is reserved or booked again.
    """
    session = uow.session
    order = await lock_order(session, terms.order_id)
    if order is not None and order.status in ("cancelled", "rejected"):
        return "ignored"  # the cancel/rejection overtook the clearance (tombstone)
    if order is not None and order.cleared:
        if not order.held:
            return "ignored"  # cleared twice
        order.held, order.held_reasons = False, None
        session.add(order)
        return "hold lifted"
    wanted = wanted_quantities(terms.lines)
    if order is None:
        order = FulfilmentOrder(order_id=terms.order_id, status="pending")
    order.cleared = True
    order.cleared_at = utcnow()
    order.held, order.held_reasons = False, None
    order.payment_terms = terms.payment_terms
    order.incoterm = terms.incoterm.upper()
    order.destination_country = terms.destination_country.upper()
    order.weight_kg = order_weight_kg(terms.lines)
    order.quoted_mode = terms.mode if terms.mode in MODES else None
    order.quoted_carrier = terms.carrier if terms.carrier in carriers() else None
    order.named_place = terms.named_place[:200]
    order.currency = terms.currency
    order.total_amount = terms.total.amount
    order.language = terms.language
    order.consignee = terms.company[:200]
    order.consignee_email = terms.email[:320]
    order.consignee_country = terms.buyer_country[:2]
    session.add(order)
    for sku, quantity in wanted.items():
        session.add(OrderLineWanted(order_id=order.order_id, sku=sku, quantity=quantity))
    session.add_all(customs_lines(order.order_id, terms.lines))
    await session.flush()

    stock = await lock_stock(session, wanted)
    available = _available(stock)
    allocation = allocate(wanted, available)
    if allocation.complete:
        _hold(stock, allocation.reserved, available)
        await _reserve(uow, order, allocation.reserved, from_backorder=False, stock=stock)
        return "reserved"
    order.status = "backordered"
    order.backordered_at = utcnow()
    short = StockShort(order_id=order.order_id, lines=allocation.short, levels=views.levels(stock, wanted))
    await uow.publish(short, correlation_id=order.order_id)
    return "backordered"


def customs_lines(order_id: str, lines: Iterable[OrderLine]) -> list[CustomsLine]:
    """One customs line per SKU (lines of one SKU summed; description, HS code, origin of the first)."""
    by_sku: dict[str, CustomsLine] = {}
    for line in lines:
        row = by_sku.get(line.sku)
        if row is None:
            by_sku[line.sku] = CustomsLine(
                order_id=order_id,
                sku=line.sku,
                description=line.name[:200],
                hs_code=line.hs_code[:16],
                origin_country=line.origin_country[:2].upper(),
                quantity=line.quantity,
                unit_price=line.unit_price,
                unit_weight_kg=line.unit_weight_kg,
            )
        else:
            row.quantity += line.quantity
    return list(by_sku.values())


async def hold_order(uow: UoW, order_id: str, reasons: list[str]) -> str:
    """Compliance holds the order (before clearance, or after it: re-screening, export control)."""
    session = uow.session
    order = await lock_order(session, order_id)
    if order is None:
        order = FulfilmentOrder(order_id=order_id, status="pending")
    elif order.status in ("cancelled", "rejected"):
        return "ignored"
    order.held = True
    order.held_reasons = ("; ".join(reasons) or "held by compliance")[:500]
    session.add(order)
    return "held"


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
    released_event = StockReleased(order_id=order_id, lines=released, reason=why, levels=views.levels(stock, skus))
    await uow.publish(released_event, correlation_id=order_id)
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
        await _reserve(uow, order, allocation.reserved, from_backorder=True, stock=stock)
        filled.append(order.order_id)
    return filled


async def _reserve(
    uow: UoW, order: FulfilmentOrder, lines: list[ReservedLine], *, from_backorder: bool, stock: Stock
) -> None:
    for line in lines:
        uow.session.add(
            Reservation(order_id=order.order_id, sku=line.sku, warehouse=line.warehouse, quantity=line.quantity)
        )
    order.status = "reserved"
    order.reserved_at = utcnow()
    uow.session.add(order)
    await uow.publish(
        StockReserved(
            order_id=order.order_id,
            lines=lines,
            from_backorder=from_backorder,
            levels=views.levels(stock, {line.sku for line in lines}),
        ),
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
    returns = (
        await session.exec(
            select(ReturnRequest).where(ReturnRequest.order_id == order_id).order_by(col(ReturnRequest.created_at))
        )
    ).all()
    items = (await session.exec(select(ReturnItem).where(col(ReturnItem.return_id).in_([r.id for r in returns])))).all()
    returned = bool(wanted) and all(
        sum(i.received for i in items if i.sku == sku) >= quantity for sku, quantity in wanted.items()
    )
    return views.fulfilment_public(order, wanted, held, shipment_id, returns, returned)


async def record_letter_of_credit(uow: UoW, lc: LetterOfCreditRecorded) -> str:
    """Keep the L/C (once per id) and book the order if it was waiting for one."""
    session = uow.session
    order = await lock_order(session, lc.order_id)
    if await session.get(LetterOfCredit, lc.letter_of_credit_id) is None:
        session.add(views.letter_of_credit_row(lc))
        await session.flush()
    if order is None:
        return "recorded"  # the clearance comes later and finds it
    booked = await book_shipment_if_ready(uow, order)
    return "booked" if booked else (order.booking_blocked or "recorded")
