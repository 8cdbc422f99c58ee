"""Procurement rows as answers and as event payloads: every shape procurement shows is built here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from hanse.money import Money, round_money
from hanse.views import from_row
from services.procurement.contract import AcceptedLine, GoodsAccepted, SupplierRegistered
from services.procurement.models import (
    BillPublic,
    Inspection,
    InspectionPublic,
    LinePublic,
    PricePublic,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderPublic,
    Receipt,
    ReceiptPublic,
    ReorderRule,
    ReorderRulePublic,
    ReturnNote,
    ReturnNotePublic,
    Supplier,
    SupplierBill,
    SupplierPrice,
    SupplierPublic,
)


def money(amount: Decimal, currency: str) -> Money:
    """Rounded to the currency's minor unit, and never "-0.00"."""
    value = round_money(amount, currency)
    return Money(amount=value if value != 0 else abs(value), currency=currency)


def price_public(price: SupplierPrice) -> PricePublic:
    return from_row(PricePublic, price, unit_price=money(price.unit_price, price.currency))


def supplier_public(supplier: Supplier, prices: Sequence[SupplierPrice] = ()) -> SupplierPublic:
    return SupplierPublic.model_validate(supplier, update={"prices": [price_public(p) for p in prices]})


def line_public(line: PurchaseOrderLine, currency: str) -> LinePublic:
    unit = line.unit_price
    return LinePublic(
        sku=line.sku,
        quantity=line.quantity,
        unit_price=money(unit, currency) if unit is not None else None,
        amount=money(unit * line.quantity, currency) if unit is not None else None,
        received=line.received,
        accepted=line.accepted,
        rejected=line.rejected,
    )


def receipt_public(receipt: Receipt) -> ReceiptPublic:
    return ReceiptPublic.model_validate(receipt, from_attributes=True)


def return_note_public(note: ReturnNote) -> ReturnNotePublic:
    return ReturnNotePublic.model_validate(note, from_attributes=True)


def purchase_order_public(
    order: PurchaseOrder,
    lines: Sequence[PurchaseOrderLine],
    receipts: Sequence[Receipt] = (),
    notes: Sequence[ReturnNote] = (),
    bills: Sequence[SupplierBill] = (),
) -> PurchaseOrderPublic:
    return PurchaseOrderPublic.model_validate(
        order,
        update={
            "total": money(order.total, order.currency),
            "total_base": money(order.total_base, order.base_currency),
            "fx_rate": order.fx_rate.normalize() if order.fx_rate is not None else None,
            "lines": [line_public(line, order.currency) for line in lines],
            "receipts": [receipt_public(r) for r in receipts],
            "return_notes": [return_note_public(n) for n in notes],
            "bills": [
                BillPublic(bill_id=b.bill_id, total=money(b.total, b.currency), due_date=b.due_date) for b in bills
            ],
        },
    )


def inspection_public(inspection: Inspection, currency: str) -> InspectionPublic:
    value = inspection.accepted_value
    return from_row(InspectionPublic, inspection, accepted_value=money(value, currency) if value is not None else None)


def reorder_rule_public(rule: ReorderRule) -> ReorderRulePublic:
    return ReorderRulePublic.model_validate(rule, from_attributes=True)


def supplier_registered(supplier: Supplier) -> SupplierRegistered:
    return from_row(SupplierRegistered, supplier, supplier_id=supplier.id)


def goods_accepted(inspection: Inspection, order: PurchaseOrder, supplier: Supplier, due: date) -> GoodsAccepted:
    """QC's accepted units, priced at the order's unit prices, in the order's currency."""
    value = inspection.accepted_value or Decimal(0)
    return GoodsAccepted(
        inspection_id=inspection.id,
        receipt_id=inspection.receipt_id,
        purchase_order_id=order.id,
        purchase_order_number=order.number,
        supplier_id=supplier.id,
        supplier_name=supplier.name,
        warehouse=order.warehouse,
        currency=order.currency,
        lines=[
            AcceptedLine(
                sku=line["sku"],
                accepted=line["accepted"],
                rejected=line["rejected"],
                unit_price=Decimal(line["unit_price"]),
            )
            for line in inspection.lines
        ],
        accepted_value=money(value, order.currency),
        payment_terms=supplier.payment_terms,
        due_date=due,
        supplier_country=supplier.country,
        supplier_vat_id=supplier.vat_id,
        incoterm=order.incoterm,
        accepted_value_base=money(value * (order.fx_rate or Decimal(1)), order.base_currency),
        fx_rate=order.fx_rate.normalize() if order.fx_rate is not None else None,
        fx_rate_date=order.fx_rate_date,
    )
