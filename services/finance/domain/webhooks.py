"""A provider's verified delivery: recorded once, applied as a payment, or kept for review."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import select

from hanse.db import upsert
from hanse.errors import DomainError
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import Money, minor_unit, round_money
from services.finance.config import UoW
from services.finance.domain import payments
from services.finance.domain.providers import Delivery
from services.finance.domain.rules import open_amount
from services.finance.models import Invoice, PaymentCreate, ProviderEvent


async def _review_reason(uow: UoW, delivery: Delivery) -> str | None:
    """Why a payment delivery cannot be applied as it is, or None when it pays the invoice exactly."""
    if not delivery.invoice_id:
        return "no invoice id in the provider's metadata"
    if delivery.amount is None or delivery.currency is None:
        return "no usable amount or currency"
    invoice = await uow.session.get(Invoice, delivery.invoice_id)
    if invoice is None:
        return f"unknown invoice {delivery.invoice_id}"
    if invoice.superseded_by_id is not None:
        return f"proforma {invoice.number} was superseded by its commercial invoice"
    if invoice.kind == "credit_note" or invoice.status != "issued":
        return f"invoice {invoice.number} is {invoice.status if invoice.kind != 'credit_note' else 'a credit note'}"
    if delivery.currency != invoice.currency:
        return f"currency {delivery.currency}, the invoice is in {invoice.currency}"
    due = open_amount(invoice.kind, invoice.status, invoice.total, invoice.paid_amount)
    if delivery.amount != round_money(due, invoice.currency) or delivery.amount % minor_unit(delivery.currency):
        return f"amount {delivery.amount} {delivery.currency}, the open amount is {round_money(due, invoice.currency)}"
    return None


async def receive(uow: UoW, delivery: Delivery) -> ProviderEvent:
    """Record the delivery once (the same delivery twice pays once) and apply it if it fits exactly.

    The row is inserted first (ON CONFLICT DO NOTHING on provider + delivery id) and then read
    locked, so a concurrent duplicate waits for the first and finds it already handled.
    """
    session = uow.session
    await session.exec(
        upsert(session, ProviderEvent.__table__)
        .values(
            id=new_id("pev"),
            provider=delivery.provider,
            delivery_id=delivery.delivery_id,
            status="received",
            received_at=utcnow(),
            payload=delivery.payload,
        )
        .on_conflict_do_nothing(index_elements=["provider", "delivery_id"])
    )
    row = (
        await session.exec(
            select(ProviderEvent)
            .where(ProviderEvent.provider == delivery.provider, ProviderEvent.delivery_id == delivery.delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if row.status != "received":
        return row  # a redelivery: handled the first time
    row.invoice_id = delivery.invoice_id or None
    row.amount, row.currency = delivery.amount, delivery.currency
    if not delivery.is_payment:
        row.status, row.reason = "ignored", f"event {delivery.kind} is not a payment"
    elif (reason := await _review_reason(uow, delivery)) is not None:
        row.status, row.reason = "review", reason
    else:
        data = PaymentCreate(
            invoice_id=delivery.invoice_id or "",
            amount=Money(amount=delivery.amount or Decimal(0), currency=delivery.currency or ""),
            method=delivery.provider,  # type: ignore[arg-type]
            reference=f"{delivery.provider}:{delivery.delivery_id}"[:200],
        )
        try:
            payment = await payments.receive_payment(uow, data, f"provider:{delivery.provider}", delivery.provider)
        except DomainError as exc:  # checked above; a race with a staff payment lands here
            row.status, row.reason = "review", exc.detail
        else:
            row.status, row.payment_id = "applied", payment.id
    session.add(row)
    await session.flush()
    return row
