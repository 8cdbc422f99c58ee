"""Payments: booking one against an issued invoice, and settling the invoice with the last."""

from __future__ import annotations

from sqlmodel import select

from hanse.errors import Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import round_money
from services.finance import views
from services.finance.config import UoW
from services.finance.domain.invoices import announce
from services.finance.domain.rules import check_amount, check_payment, open_amount
from services.finance.models import Invoice, Payment, PaymentCreate


async def receive_payment(uow: UoW, data: PaymentCreate, received_by: str) -> Payment:
    """Book a payment against an issued invoice; the payment that settles it marks it paid."""
    check_amount(data.amount)
    session = uow.session
    invoice = (
        await session.exec(
            select(Invoice)
            .where(Invoice.id == data.invoice_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if invoice is None:
        raise Invalid(f"no invoice {data.invoice_id}", field="invoice_id")
    cur = invoice.currency
    total = round_money(invoice.total, cur)
    open_before = open_amount(invoice.kind, invoice.status, total, round_money(invoice.paid_amount, cur))
    check_payment(invoice.kind, invoice.status, cur, open_before, data.amount)
    amount = round_money(data.amount.amount, cur)
    now = utcnow()
    invoice.paid_amount = round_money(invoice.paid_amount, cur) + amount
    open_after = total - invoice.paid_amount
    payment = Payment(
        id=new_id("pay"),
        invoice_id=invoice.id,
        order_id=invoice.order_id,
        amount=amount,
        currency=cur,
        method=data.method,
        reference=data.reference,
        open_amount=open_after,
        received_at=now,
        received_by=received_by,
    )
    if open_after == 0:
        invoice.status = "paid"
        invoice.paid_at = now
    session.add_all([invoice, payment])
    await session.flush()
    await announce(uow, views.payment_received(payment))
    if invoice.status == "paid":
        await announce(uow, views.invoice_paid(invoice))
    return payment
