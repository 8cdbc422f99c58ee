"""Supplier bills: recorded when procurement accepts goods (payables, purchases, input VAT)."""

from __future__ import annotations

from sqlmodel import select

from hanse.db import upsert
from hanse.errors import Conflict, NotFound, PermanentEventError
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import ecb_rate, round_money
from services.finance import views
from services.finance.config import UoW
from services.finance.domain import ledger
from services.finance.domain.invoices import _fx_to_base
from services.finance.domain.rules import PAYABLES, bill_entry, bill_payment_amounts, bill_vat, in_base
from services.finance.models import BillPaymentCreate, Supplier, SupplierBill
from services.procurement.contract import GoodsAccepted, SupplierRegistered


async def remember_supplier(uow: UoW, supplier: SupplierRegistered) -> None:
    """Keep the supplier's country (and name): it decides the VAT of its bills. No personal data."""
    row = await uow.session.get(Supplier, supplier.supplier_id)
    if row is None:
        row = Supplier(supplier_id=supplier.supplier_id, name=supplier.name, country=supplier.country.upper()[:2])
    else:
        row.name, row.country = supplier.name, supplier.country.upper()[:2]
    uow.session.add(row)


async def record_bill(uow: UoW, accepted: GoodsAccepted) -> SupplierBill | None:
    """One bill per QC inspection (redelivery: nothing new), due on the event's due date."""
    session = uow.session
    cur = accepted.accepted_value.currency
    if cur != accepted.currency.upper():
        raise PermanentEventError(f"accepted_value is in {cur}, the purchase order in {accepted.currency}")
    net = round_money(accepted.accepted_value.amount, cur)
    # The event names the supplier's country (procurement added it); else the registration's.
    country = accepted.supplier_country
    if not country:
        supplier = await session.get(Supplier, accepted.supplier_id)
        country = supplier.country if supplier else None
    vat = bill_vat(net, country, uow.settings.seller_country, cur)
    now = utcnow()
    base = uow.settings.base_currency
    try:
        fx_rate, fx_date, total_base = _fx_to_base(vat.payable, cur, base, now.date())
    except ValueError as exc:
        raise PermanentEventError(f"bill for {accepted.purchase_order_number}: {exc}") from None
    bill_id = new_id("bill")
    inserted = await session.exec(
        upsert(session, SupplierBill.__table__)
        .values(
            id=bill_id,
            inspection_id=accepted.inspection_id,
            supplier_id=accepted.supplier_id,
            supplier_name=accepted.supplier_name,
            purchase_order_id=accepted.purchase_order_id,
            purchase_order_number=accepted.purchase_order_number,
            currency=cur,
            net=net,
            tax=vat.tax,
            total=vat.payable,
            total_base=total_base,
            fx_rate=fx_rate,
            fx_rate_date=fx_date,
            vat_treatment=vat.treatment,
            due_date=accepted.due_date,
            status="open",
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["inspection_id"])
    )
    if not inserted.rowcount:
        return None  # the same inspection again
    bill = await session.get(SupplierBill, bill_id)
    assert bill is not None
    await ledger.post(
        session,
        in_base(bill_entry(net, vat), fx_rate, base, fixed={PAYABLES: -total_base}),
        on=now.date(),
        memo=f"Supplier bill {accepted.purchase_order_number} {accepted.supplier_name} ({vat.treatment})",
        source="supplier_bill",
        source_id=bill.id,
        currency=base,
    )
    await uow.publish(views.supplier_bill_recorded(bill), correlation_id=uow.correlation_id or bill.purchase_order_id)
    return bill


async def pay_bill(uow: UoW, bill_id: str, data: BillPaymentCreate) -> SupplierBill:
    """Pay an open bill in full: payables cleared, the bank credited at the day's ECB rate (FX the gap)."""
    session = uow.session
    bill = (
        await session.exec(
            select(SupplierBill)
            .where(SupplierBill.id == bill_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if bill is None:
        raise NotFound(f"no bill {bill_id}", field="bill_id")
    if bill.status != "open":
        raise Conflict(f"the bill is {bill.status}", field="bill_id", status_now=bill.status)
    now = utcnow()
    base = uow.settings.base_currency
    total = round_money(bill.total, bill.currency)
    bank = total if bill.currency == base else round_money(total * ecb_rate(bill.currency, base, now.date()).rate, base)
    bill.status, bill.paid_at, bill.payment_reference = "paid", now, data.reference
    session.add(bill)
    await session.flush()
    await ledger.post(
        session,
        bill_payment_amounts(round_money(bill.total_base, base), bank),
        on=now.date(),
        memo=f"Payment {data.reference} of supplier bill {bill.purchase_order_number or bill.id}",
        source="bill_payment",
        source_id=bill.id,
        currency=base,
    )
    return bill
