"""GDPR requests: invoices and payments are kept 10 years; the answer says so in the same transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import col, select

from hanse.privacy import Retained, pseudonym
from services.compliance.contract import PrivacyRequestOpened
from services.finance import views
from services.finance.config import UoW
from services.finance.contract import PrivacyAnswered
from services.finance.models import Invoice, Payment

RETENTION_YEARS = 10
WHY = (
    "§147 AO / §257 HGB (Art. 17(3)(b) GDPR): invoices, credit notes and the payments booked on them "
    "are accounting records, kept 10 years from the end of the calendar year"
)


def kept_until(issued: date) -> date:
    """Ten years from the end of the calendar year the record was made in."""
    return date(issued.year + RETENTION_YEARS, 12, 31)


async def answer(uow: UoW, request: PrivacyRequestOpened) -> PrivacyAnswered:
    """Find the person's invoices by the buyer address; export them (access) or pseudonymise the
    address on them (erasure). The invoices and payments themselves are retained by law."""
    session = uow.session
    email = request.email.strip().lower()
    invoices = (await session.exec(select(Invoice).where(func.lower(col(Invoice.buyer_email)) == email))).all()
    ids = [invoice.id for invoice in invoices]
    payments = (await session.exec(select(Payment).where(col(Payment.invoice_id).in_(ids)))).all() if ids else []
    retained: list[Retained] = []
    if invoices:
        until = kept_until(max(invoice.issued_at.date() for invoice in invoices))
        retained.append(Retained(what=f"{len(invoices)} invoices and credit notes", why=WHY, until=until))
    if payments:
        until = kept_until(max(payment.received_at.date() for payment in payments))
        retained.append(Retained(what=f"{len(payments)} payments", why=WHY, until=until))
    export: dict = {}
    pseudonymised = 0
    if request.kind == "access":
        export = {
            "invoices": [views.invoice_public(invoice).model_dump(mode="json") for invoice in invoices],
            "payments": [views.payment_public(payment).model_dump(mode="json") for payment in payments],
        }
    else:
        # The address is not part of the legal invoice (name, address and VAT id are): it goes.
        stand_in = pseudonym(email, uow.settings.signing_secret())
        for invoice in invoices:
            invoice.buyer_email = stand_in
            session.add(invoice)
            pseudonymised += 1
    result = PrivacyAnswered(
        request_id=request.request_id,
        kind=request.kind,
        department="finance",
        records=len(invoices) + len(payments),
        pseudonymised=pseudonymised,
        retained=retained,
        export=export,
    )
    await uow.publish(result)
    return result
