"""Letters of credit: recorded per order (logistics books only under a valid one), settled on presentation."""

from __future__ import annotations

from sqlmodel import col, select

from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import Money, round_money
from services.finance import views
from services.finance.config import UoW
from services.finance.domain import payments
from services.finance.domain.invoices import announce
from services.finance.domain.rules import check_amount, check_lc_dates, check_not_huge
from services.finance.models import Invoice, LetterOfCredit, LetterOfCreditCreate, PaymentCreate, PresentationCreate


async def _live_invoice(uow: UoW, order_id: str) -> Invoice | None:
    """The invoice that collects the order's money: the commercial one once issued, else the proforma."""
    rows = (
        await uow.session.exec(
            select(Invoice).where(Invoice.order_id == order_id, col(Invoice.kind).in_(["proforma", "commercial"]))
        )
    ).all()
    live = [i for i in rows if i.superseded_by_id is None]
    live.sort(key=lambda i: i.kind != "commercial")
    return live[0] if live else None


async def record(uow: UoW, data: LetterOfCreditCreate) -> LetterOfCredit:
    check_amount(data.amount)
    check_not_huge(data.amount)
    check_lc_dates(data.expiry_date, data.latest_shipment_date, utcnow().date())
    invoice = await _live_invoice(uow, data.order_id)
    if invoice is None:
        raise Invalid(f"finance has no invoice for order {data.order_id} (not cleared yet?)", field="order_id")
    if invoice.payment_terms != "letter_of_credit":
        raise Conflict(f"order {data.order_id} has payment terms {invoice.payment_terms}", field="order_id")
    if data.amount.currency != invoice.currency:
        raise Invalid(f"the order is in {invoice.currency}", field="amount.currency")
    credit = LetterOfCredit(
        id=new_id("lc"),
        order_id=data.order_id,
        issuing_bank=data.issuing_bank,
        amount=round_money(data.amount.amount, invoice.currency),
        currency=invoice.currency,
        expiry_date=data.expiry_date,
        latest_shipment_date=data.latest_shipment_date,
        status="open",
        recorded_at=utcnow(),
    )
    uow.session.add(credit)
    await uow.session.flush()
    await announce(uow, views.letter_of_credit_recorded(credit))
    return credit


async def present(uow: UoW, credit_id: str, data: PresentationCreate, by: str) -> LetterOfCredit:
    """The documents were presented to the bank under the L/C: it pays, the invoice is settled."""
    if not data.documents:
        raise Invalid("present at least one document", field="documents")
    credit = (
        await uow.session.exec(
            select(LetterOfCredit)
            .where(LetterOfCredit.id == credit_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if credit is None:
        raise NotFound(f"no letter of credit {credit_id}", field="letter_of_credit_id")
    if credit.status != "open":
        raise Conflict(f"the letter of credit is {credit.status}", field="letter_of_credit_id")
    today = utcnow().date()
    if today > credit.expiry_date:
        raise Conflict(f"the letter of credit expired on {credit.expiry_date}", field="letter_of_credit_id")
    invoice = await _live_invoice(uow, credit.order_id)
    if invoice is None or invoice.status != "issued":
        raise Conflict("the order has no open invoice to settle", field="letter_of_credit_id")
    due = round_money(invoice.total - invoice.paid_amount, invoice.currency)
    amount = min(due, credit.amount)
    payment = await payments.receive_payment(
        uow,
        PaymentCreate(
            invoice_id=invoice.id,
            amount=Money(amount=amount, currency=invoice.currency),
            method="letter_of_credit",
            reference=f"L/C {credit.id} {credit.issuing_bank}"[:200],
        ),
        by,
    )
    credit.status = "settled"
    credit.documents = list(data.documents)
    credit.payment_id = payment.id
    credit.presented_at = utcnow()
    uow.session.add(credit)
    await uow.session.flush()
    return credit
