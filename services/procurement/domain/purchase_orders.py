"""Purchase orders: drafting (gap-free numbers, ECB rate to the base currency), sending to the
supplier with the PDF, goods receipt, QC, and the return note for rejected units."""

from __future__ import annotations

import logging
import re
from datetime import date
from decimal import Decimal
from email.utils import formataddr

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.db import next_in_series
from hanse.documents import StoredDocument
from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import ecb_rate, round_money
from hanse.pagination import get_or_404
from services.finance.contract import SupplierBillRecorded
from services.procurement import views
from services.procurement.config import UoW
from services.procurement.domain.rules import (
    SERIES,
    LineState,
    check_can_cancel,
    check_can_inspect,
    check_can_send,
    check_inspection,
    check_receipt,
    due_date,
    format_number,
    should_close,
    status_after_receipt,
    supplier_language,
)
from services.procurement.models import (
    Counter,
    Inspection,
    InspectionResult,
    PurchaseOrder,
    PurchaseOrderCreate,
    PurchaseOrderLine,
    Receipt,
    ReceiptCreate,
    ReorderRule,
    ReturnNote,
    Supplier,
    SupplierBill,
    SupplierPrice,
)

log = logging.getLogger("hanse.procurement")


async def next_number(session: AsyncSession, kind: str, year: int) -> tuple[int, str]:
    """The next number of the kind's series and year, taken in the caller's transaction (gap-free)."""
    series = SERIES[kind]
    sequence = await next_in_series(session, Counter, series, year)
    return sequence, format_number(series, year, sequence)


async def lines_of(session: AsyncSession, order_id: str, *, lock: bool = False) -> list[PurchaseOrderLine]:
    query = select(PurchaseOrderLine).where(PurchaseOrderLine.purchase_order_id == order_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list((await session.exec(query.order_by(col(PurchaseOrderLine.position)))).all())


async def _locked_order(session: AsyncSession, order_id: str) -> PurchaseOrder:
    query = (
        select(PurchaseOrder)
        .where(PurchaseOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    order = (await session.exec(query)).first()
    if order is None:
        await get_or_404(session, PurchaseOrder, order_id, what="purchase order", field="purchase_order_id")
    assert order is not None
    return order


def _convert(amount: Decimal, source: str, target: str, on: date) -> Decimal:
    if source == target:
        return amount
    return round_money(amount * ecb_rate(source, target, on).rate, target)


async def draft(
    uow: UoW,
    data: PurchaseOrderCreate,
    *,
    by: str,
    reorder_rule: ReorderRule | None = None,
) -> PurchaseOrder:
    """A draft purchase order: prices from the request or the supplier's list, the ECB rate stored."""
    session = uow.session
    supplier = await session.get(Supplier, data.supplier_id)
    if supplier is None:
        raise Invalid(f"no supplier {data.supplier_id}", field="supplier_id")
    if supplier.status == "blocked":
        raise Conflict("the supplier is blocked by compliance: no order may go to it", field="supplier_id")
    now = utcnow()
    base = uow.settings.base_currency
    try:
        fx = ecb_rate(data.currency, base, now.date())
    except ValueError:
        raise Invalid(
            f"no ECB reference rate for {data.currency}: orders in it cannot be valued", field="currency"
        ) from None
    priced: list[tuple[str, int, Decimal | None]] = []
    for index, line in enumerate(data.lines):
        price = await session.get(SupplierPrice, (supplier.id, line.sku))
        if price is not None and line.quantity < price.moq and reorder_rule is None:
            raise Invalid(
                f"{line.quantity} units of {line.sku} are below the supplier's MOQ of {price.moq}",
                field=f"lines.{index}.quantity",
            )
        if line.unit_price is not None:
            if line.unit_price.currency != data.currency:
                raise Invalid(
                    f"unit price in {line.unit_price.currency}, order in {data.currency}",
                    field=f"lines.{index}.unit_price.currency",
                )
            unit: Decimal | None = line.unit_price.amount
        elif price is not None:
            try:
                unit = _convert(price.unit_price, price.currency, data.currency, now.date())
            except ValueError:
                raise Invalid(f"cannot convert the {price.currency} price of {line.sku}", field="currency") from None
        elif reorder_rule is not None:
            unit = None  # a reorder draft waits for a price; sending it asks for one
        else:
            raise Invalid(
                f"no unit price given and no supplier price for {line.sku}", field=f"lines.{index}.unit_price"
            )
        priced.append((line.sku, line.quantity, unit))
    total = round_money(sum((q * (u or 0) for _, q, u in priced), Decimal(0)), data.currency)
    sequence, number = await next_number(session, "purchase_order", now.year)
    order = PurchaseOrder(
        id=new_id("po"),
        number=number,
        year=now.year,
        sequence=sequence,
        supplier_id=supplier.id,
        warehouse=data.warehouse,
        currency=data.currency,
        incoterm=data.incoterm,
        status="draft",
        base_currency=base,
        fx_rate=fx.rate if data.currency != base else None,
        fx_rate_date=fx.rate_date if data.currency != base else None,
        total=total,
        total_base=round_money(total * fx.rate, base),
        reorder_rule_id=reorder_rule.id if reorder_rule else None,
        reorder_round=reorder_rule.rounds if reorder_rule else None,
        created_at=now,
        created_by=by,
    )
    session.add(order)
    for position, (sku, quantity, unit) in enumerate(priced):
        session.add(
            PurchaseOrderLine(
                id=new_id("pol"),
                purchase_order_id=order.id,
                position=position,
                sku=sku,
                quantity=quantity,
                unit_price=unit,
            )
        )
    await session.flush()
    return order


async def purchase_order_pdf(uow: UoW, order: PurchaseOrder) -> StoredDocument:
    """The purchase order as PDF in the supplier's language: rendered when sent (or first asked for
    after), then as stored. A draft has none: its prices may still change."""
    if order.status in ("draft", "cancelled") and await uow.stored_document(f"purchase_order:{order.id}") is None:
        raise Conflict(f"purchase order is {order.status}: its PDF exists once it is sent", field="status")
    supplier = await get_or_404(uow.session, Supplier, order.supplier_id, what="supplier", field="supplier_id")
    lines = await lines_of(uow.session, order.id)
    return await uow.document(
        f"purchase_order:{order.id}",
        "purchase_order",
        language=supplier_language(supplier.country, supplier.language),
        context={
            "order": views.purchase_order_public(order, lines),
            "supplier": supplier,
            "buyer": uow.config.company_name,
            "seller_country": uow.settings.seller_country,
        },
        filename=f"{order.number}.pdf",
    )


async def _price_from_list(uow: UoW, order: PurchaseOrder, lines: list[PurchaseOrderLine]) -> None:
    """A reorder draft's unpriced lines take the supplier's price as it is now; the totals follow."""
    unpriced = [line for line in lines if line.unit_price is None]
    if not unpriced:
        return
    today = utcnow().date()
    for line in unpriced:
        price = await uow.session.get(SupplierPrice, (order.supplier_id, line.sku))
        if price is None:
            continue
        try:
            line.unit_price = _convert(price.unit_price, price.currency, order.currency, today)
        except ValueError:
            continue  # no ECB rate for the price list's currency: the line stays unpriced, send says so
        uow.session.add(line)
    total = round_money(sum((line.quantity * (line.unit_price or 0) for line in lines), Decimal(0)), order.currency)
    order.total = total
    order.total_base = round_money(total * (order.fx_rate or Decimal(1)), order.base_currency)


def display_name(name: str) -> str:
    """A company name fit for an address header: its specials (a comma in "Acme, Inc.") as spaces.

    Even quoted, a non-ASCII name with a comma comes out of the kernel's RFC 2047 encoding as two
    addresses; the plain name is what the supplier sees anyway.
    """
    return " ".join(re.sub(r'[,;:"<>()\\\[\]@]', " ", name).split())


async def send(uow: UoW, order_id: str) -> PurchaseOrder:
    """draft → sent: the supplier gets a mail in its language with the purchase order attached."""
    session = uow.session
    order = await _locked_order(session, order_id)
    supplier = await get_or_404(session, Supplier, order.supplier_id, what="supplier", field="supplier_id")
    lines = await lines_of(session, order.id, lock=True)
    if order.status == "draft":
        await _price_from_list(uow, order, lines)
    check_can_send(order.status, supplier.status, [line.sku for line in lines if line.unit_price is None])
    if supplier.status != "approved":
        raise Conflict(
            "the supplier is still being screened by compliance: send once it is approved", field="supplier_id"
        )
    order.status = "sent"
    order.sent_at = utcnow()
    session.add(order)
    await session.flush()
    document = await purchase_order_pdf(uow, order)
    await uow.send_mail(
        "purchase_order",
        to=formataddr((display_name(supplier.name), supplier.email)),
        language=supplier_language(supplier.country, supplier.language),
        context={
            "order": views.purchase_order_public(order, lines),
            "supplier": supplier,
            "buyer": uow.config.company_name,
        },
        attachments=[document.as_attachment()],
        ref=f"purchase_order:{order.id}",
    )
    return order


async def receive(uow: UoW, order_id: str, data: ReceiptCreate, *, by: str) -> Receipt:
    """Goods arrived: they wait for QC (an inspection) and are not stock yet."""
    session = uow.session
    order = await _locked_order(session, order_id)
    supplier = await get_or_404(session, Supplier, order.supplier_id, what="supplier", field="supplier_id")
    lines = {line.sku: line for line in await lines_of(session, order.id, lock=True)}
    receipt_lines: dict[str, int] = {}
    for index, line in enumerate(data.lines):
        if line.sku in receipt_lines:
            raise Invalid(f"sku {line.sku} appears twice", field=f"lines.{index}.sku")
        receipt_lines[line.sku] = line.quantity
    states = {sku: LineState(sku, line.quantity, line.received) for sku, line in lines.items()}
    check_receipt(order.status, supplier.status, states, receipt_lines)
    for sku, quantity in receipt_lines.items():
        lines[sku].received += quantity
        session.add(lines[sku])
    order.status = status_after_receipt(LineState(s, line.quantity, line.received) for s, line in lines.items())  # type: ignore[assignment]
    session.add(order)
    receipt = Receipt(
        id=new_id("rcp"),
        purchase_order_id=order.id,
        inspection_id=new_id("insp"),
        lines=[{"sku": sku, "quantity": quantity} for sku, quantity in receipt_lines.items()],
        received_by=by,
    )
    session.add(receipt)
    session.add(
        Inspection(
            id=receipt.inspection_id,
            receipt_id=receipt.id,
            purchase_order_id=order.id,
            status="pending",
            lines=[{"sku": sku, "received": quantity} for sku, quantity in receipt_lines.items()],
        )
    )
    await session.flush()
    return receipt


async def record_inspection(uow: UoW, inspection_id: str, data: InspectionResult, *, by: str) -> Inspection:
    """QC judged a receipt: accepted units become logistics' stock and finance's supplier bill
    (procurement.goods.accepted.v1); rejected units go back to the supplier on a return note."""
    session = uow.session
    inspection = await get_or_404(session, Inspection, inspection_id, what="inspection", field="inspection_id")
    order = await _locked_order(session, inspection.purchase_order_id)
    await session.refresh(inspection)
    supplier = await get_or_404(session, Supplier, order.supplier_id, what="supplier", field="supplier_id")
    check_can_inspect(inspection.status, supplier.status)
    received = {line["sku"]: int(line["received"]) for line in inspection.lines}
    check_inspection(received, [(line.sku, line.accepted, line.rejected) for line in data.lines])
    lines = {line.sku: line for line in await lines_of(session, order.id, lock=True)}
    now = utcnow()
    results = []
    accepted_value = Decimal(0)
    for line in data.lines:
        po_line = lines[line.sku]
        po_line.accepted += line.accepted
        po_line.rejected += line.rejected
        session.add(po_line)
        unit = po_line.unit_price or Decimal(0)
        accepted_value += unit * line.accepted
        results.append(
            {
                "sku": line.sku,
                "received": received[line.sku],
                "accepted": line.accepted,
                "rejected": line.rejected,
                "notes": line.notes,
                "unit_price": format(round_money(unit, order.currency), "f"),
            }
        )
    inspection.status = "done"
    inspection.lines = results
    inspection.inspected_at = now
    inspection.inspected_by = by
    inspection.accepted_value = round_money(accepted_value, order.currency)
    rejected = [r for r in results if r["rejected"] > 0]
    if rejected:
        _, number = await next_number(session, "return_note", now.year)
        note = ReturnNote(
            id=new_id("rn"),
            number=number,
            purchase_order_id=order.id,
            inspection_id=inspection.id,
            lines=[{"sku": r["sku"], "quantity": r["rejected"], "notes": r["notes"]} for r in rejected],
            created_at=now,
        )
        session.add(note)
        inspection.return_note_id = note.id
    session.add(inspection)
    await session.flush()
    if any(r["accepted"] > 0 for r in results):
        event = views.goods_accepted(inspection, order, supplier, due_date(now.date(), supplier.payment_terms))
        await uow.publish(event, correlation_id=order.id)
    pending = await session.scalar(
        select(func.count())
        .select_from(Inspection)
        .where(Inspection.purchase_order_id == order.id, Inspection.status == "pending")
    )
    if should_close(order.status, int(pending or 0)):
        order.status = "closed"
        order.closed_at = now
        session.add(order)
    if order.reorder_rule_id and order.status in ("received", "closed"):
        await release_rule(session, order)
    await session.flush()
    return inspection


async def cancel(uow: UoW, order_id: str) -> PurchaseOrder:
    """The buyer withdraws a draft (or a sent order of which nothing arrived); its reorder rule may raise anew."""
    session = uow.session
    order = await _locked_order(session, order_id)
    lines = await lines_of(session, order.id)
    check_can_cancel(order.status, sum(line.received for line in lines))
    order.status = "cancelled"
    order.closed_at = utcnow()
    session.add(order)
    if order.reorder_rule_id:
        await release_rule(session, order)
    await session.flush()
    return order


async def release_rule(session: AsyncSession, order: PurchaseOrder) -> None:
    """The shortage a rule raised this order for is filled: a new shortage may raise a new order."""
    rule = await session.get(ReorderRule, order.reorder_rule_id)
    if rule is not None and rule.open_purchase_order_id == order.id:
        rule.open_purchase_order_id = None
        session.add(rule)


async def record_bill(uow: UoW, bill: SupplierBillRecorded) -> SupplierBill | None:
    """Finance booked a bill for goods of one of our orders: show it on the order (once per bill)."""
    session = uow.session
    if await session.get(SupplierBill, bill.bill_id) is not None:
        return None
    if await session.get(PurchaseOrder, bill.purchase_order_id) is None:
        log.warning("supplier bill %s names unknown purchase order %s", bill.bill_id, bill.purchase_order_id)
        return None
    row = SupplierBill(
        bill_id=bill.bill_id,
        purchase_order_id=bill.purchase_order_id,
        supplier_id=bill.supplier_id,
        currency=bill.total.currency,
        total=bill.total.amount,
        due_date=bill.due_date,
    )
    session.add(row)
    await session.flush()
    return row


async def return_note_pdf(uow: UoW, note: ReturnNote) -> StoredDocument:
    order = await get_or_404(uow.session, PurchaseOrder, note.purchase_order_id, what="purchase order", field="id")
    supplier = await get_or_404(uow.session, Supplier, order.supplier_id, what="supplier", field="supplier_id")
    return await uow.document(
        f"return_note:{note.id}",
        "return_note",
        language=supplier_language(supplier.country, supplier.language),
        context={"note": note, "order": order, "supplier": supplier, "buyer": uow.config.company_name},
        filename=f"{note.number}.pdf",
    )
