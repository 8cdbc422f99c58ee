"""GDPR requests (compliance.privacy_request.opened): export or erase what sales holds about a person.

Sales holds a person's address on accounts (when the buyer is that person), contacts, inquiries,
and the tickets of such an account. Erasure deletes contacts, pseudonymises inquiries and the
account's address, blanks its tickets, and keeps what commercial law requires: orders and quotes
(10 years, §147 AO / §257 HGB) and the mail sent (business letters, 6 years, §257 HGB). The answer
is published in the same transaction as the changes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy import select as sa_select
from sqlmodel import select

from hanse.privacy import Retained, pseudonym
from services.compliance.contract import PrivacyRequestOpened
from services.sales import contract
from services.sales.config import UoW
from services.sales.models import Account, Contact, Inquiry, Model, SalesOrder, Ticket, TicketMessage

MAIL = Model.metadata.tables["mail_outbox"]
ERASED = "[erased]"
ORDERS_LAW = "§147 AO / §257 HGB: orders and quotes are commercial records, kept 10 years"
MAIL_LAW = "§257 HGB: business letters sent (quotes, confirmations, invoices) are kept 6 years"


def _years_later(years: int) -> date:
    today = date.today()
    try:
        return today.replace(year=today.year + years)
    except ValueError:  # 29 February
        return today.replace(year=today.year + years, day=28)


def _plain(row: Any, *fields: str) -> dict[str, Any]:
    return {f: (v.isoformat() if hasattr(v, "isoformat") else v) for f in fields if (v := getattr(row, f)) is not None}


async def answer_privacy_request(uow: UoW, request: PrivacyRequestOpened) -> contract.PrivacyAnswered:
    session = uow.session
    email = request.email.strip().lower()
    accounts = (await session.exec(select(Account).where(func.lower(Account.email) == email))).all()
    contacts = (await session.exec(select(Contact).where(func.lower(Contact.email) == email))).all()
    inquiries = (await session.exec(select(Inquiry).where(func.lower(Inquiry.email) == email))).all()
    account_ids = [a.id for a in accounts]
    tickets = (await session.exec(select(Ticket).where(Ticket.account_id.in_(account_ids)))).all() if accounts else []
    ticket_ids = [t.id for t in tickets]
    messages = (
        (await session.exec(select(TicketMessage).where(TicketMessage.ticket_id.in_(ticket_ids)))).all()
        if ticket_ids
        else []
    )
    orders = (
        (await session.exec(select(SalesOrder).where(SalesOrder.account_id.in_(account_ids)))).all() if accounts else []
    )
    mail = (
        await session.exec(
            sa_select(MAIL.c.template, MAIL.c.subject, MAIL.c.sent_at).where(func.lower(MAIL.c.to_address) == email)
        )
    ).all()
    records = len(accounts) + len(contacts) + len(inquiries) + len(tickets) + len(mail)
    answer: dict[str, Any] = {
        "request_id": request.request_id,
        "kind": request.kind,
        "department": "sales",
        "records": records,
    }
    if request.kind == "access":
        answer["export"] = {
            "accounts": [
                _plain(a, "id", "company", "country", "email", "language", "vat_id", "payment_terms", "timezone")
                for a in accounts
            ],
            "contacts": [_plain(c, "id", "account_id", "name", "email", "phone", "role", "language") for c in contacts],
            "inquiries": [
                _plain(i, "id", "company", "contact_name", "email", "country", "message", "status", "created_at")
                for i in inquiries
            ],
            "tickets": [
                {
                    **_plain(t, "id", "subject", "channel", "status", "created_at"),
                    "messages": [_plain(m, "author", "body", "created_at") for m in messages if m.ticket_id == t.id],
                }
                for t in tickets
            ],
            "orders": [_plain(o, "id", "status", "placed_at") for o in orders],
            "mail": [
                {"kind": m.template, "subject": m.subject, "sent_at": _plain(m, "sent_at").get("sent_at")} for m in mail
            ],
        }
        return await _publish(uow, answer)

    stand_in = pseudonym(email, uow.settings.signing_secret())
    erased = pseudonymised = 0
    if contacts:
        await session.exec(delete(Contact).where(Contact.id.in_([c.id for c in contacts])))  # type: ignore[call-overload]
        erased += len(contacts)
    for inquiry in inquiries:
        inquiry.email, inquiry.contact_name, inquiry.message = stand_in, ERASED, None
        session.add(inquiry)
        pseudonymised += 1
    for account in accounts:
        # The account is the person: its address goes; the company and its orders stay (law).
        account.email = stand_in
        session.add(account)
        pseudonymised += 1
    for ticket in tickets:
        ticket.subject = ERASED
        session.add(ticket)
        erased += 1
    for message in messages:
        message.body = ERASED
        session.add(message)
    retained: list[Retained] = []
    if orders:
        retained.append(Retained(what=f"{len(orders)} orders and their quotes", why=ORDERS_LAW, until=_years_later(10)))
    if mail:
        retained.append(Retained(what=f"{len(mail)} mails sent", why=MAIL_LAW, until=_years_later(6)))
    answer |= {"erased": erased, "pseudonymised": pseudonymised, "retained": retained}
    return await _publish(uow, answer)


async def _publish(uow: UoW, answer: dict[str, Any]) -> contract.PrivacyAnswered:
    payload = contract.PrivacyAnswered.model_validate(answer)
    await uow.publish(payload, correlation_id=uow.correlation_id or payload.request_id)
    return payload
