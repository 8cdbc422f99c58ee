"""Payments: booking one against an issued invoice, and settling the invoice with the last."""

from __future__ import annotations

from sqlmodel import select

from hanse.errors import Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import ecb_rate, round_money
from services.finance import views
from services.finance.config import UoW
from services.finance.domain import ledger
from services.finance.domain.invoices import announce
from services.finance.domain.rules import (
    check_amount,
    check_payment,
    open_amount,
    payment_amounts,
    receivable_share,
)
from services.finance.models import Invoice, Payment, PaymentCreate


async def receive_payment(uow: UoW, data: PaymentCreate, received_by: str, provider: str | None = None) -> Payment:
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
    check_payment(invoice.kind, invoice.status, cur, open_before, data.amount, invoice.superseded_by_id)
    amount = round_money(data.amount.amount, cur)
    now = utcnow()
    paid_before = round_money(invoice.paid_amount, cur)
    invoice.paid_amount = paid_before + amount
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
        provider=provider,
    )
    if open_after == 0:
        invoice.status = "paid"
        invoice.paid_at = now
    base = invoice.base_currency
    total_base = invoice.total_base if invoice.total_base is not None else total
    receivable = receivable_share(total_base, paid_before, invoice.paid_amount, total, base)
    invoice.paid_base += receivable
    # The money in the bank is worth the day's ECB rate; the gap to the invoice's rate is FX.
    bank = amount if cur == base else round_money(amount * ecb_rate(cur, base, now.date()).rate, base)
    session.add_all([invoice, payment])
    await session.flush()
    await ledger.post(
        session,
        payment_amounts(bank, receivable),
        on=now.date(),
        memo=f"Payment {data.reference} ({data.method}) on {invoice.number}",
        source="payment",
        source_id=payment.id,
        currency=base,
    )
    await announce(uow, views.payment_received(payment))
    if invoice.status == "paid":
        await announce(uow, views.invoice_paid(invoice))
    return payment
