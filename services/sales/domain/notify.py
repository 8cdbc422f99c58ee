"""The mail that keeps a buyer informed: quote, order confirmation, invoice (finance's PDF), dispatch, delivery.

Every message goes to the account's email in the account's language through the kernel's mail
outbox (`uow.send_mail`, `ref="account:<id>"`), in the transaction that decides it: a rollback
never sends it, a crash never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from hanse.auth import issue_token
from hanse.db import claim
from hanse.events import utcnow
from hanse.http import department_client
from hanse.settings import Settings
from hanse.uow import Attachment
from services import service_url
from services.finance.contract import InvoiceIssued
from services.logistics.contract import ShipmentDelivered, ShipmentDispatched
from services.sales.config import SalesConfig, UoW
from services.sales.domain.sla import zone_for
from services.sales.models import Account, InvoiceMail, Quote, QuoteLineRow, SalesOrder

log = logging.getLogger("services.sales")

CARRIER_NAMES = {
    "dhl-express": "DHL Express",
    "maersk": "Maersk",
    "lufthansa-cargo": "Lufthansa Cargo",
    "db-schenker": "DB Schenker",
}


def reachable(account: Account) -> bool:
    """An erased person's address is a pseudonym on the reserved `.invalid` domain: never mailed."""
    return not account.email.lower().endswith("@invalid")


async def mail_account(uow: UoW, account: Account, kind: str, context: Mapping[str, Any]) -> None:
    if not reachable(account):
        return
    await uow.send_mail(
        kind,
        to=account.email,
        language=account.language,
        context={"company": account.company, **context},
        ref=f"account:{account.id}",
    )


async def quote_issued(uow: UoW, quote: Quote, lines: list[QuoteLineRow]) -> None:
    account = await uow.session.get(Account, quote.account_id)
    if account is None:  # pragma: no cover - quotes reference accounts by foreign key
        return
    notes = " ".join(line.note for line in lines if line.note)
    context = {
        "quote_id": quote.id,
        "total": quote.total,
        "currency": quote.currency,
        "incoterm": quote.incoterm,
        "named_place": quote.named_place,
        "valid_until": quote.valid_until.astimezone(ZoneInfo(zone_for(account.country, account.timezone))).date(),
        "notes": notes,
    }
    await mail_account(uow, account, "quote_issued", context)


async def order_milestone(uow: UoW, order: SalesOrder, status: str, cause: Any = None) -> None:
    """Mail the buyer when the order reached a status they hear about (once: only on the transition)."""
    account = await uow.session.get(Account, order.account_id)
    if account is None:  # pragma: no cover - orders reference accounts by foreign key
        return
    context: dict[str, Any] = {"order_id": order.id, "total": order.total, "currency": order.currency}
    if status == "confirmed":
        await mail_account(uow, account, "order_confirmed", context)
    elif status == "shipped" and isinstance(cause, ShipmentDispatched):
        carrier_id = cause.carrier or order.shipped_with or ""
        carrier = cause.carrier_name or CARRIER_NAMES.get(carrier_id, carrier_id)
        tracking = cause.tracking_number or order.tracking_number
        context |= {"carrier_name": carrier or "-", "tracking_number": tracking or "-"}
        await mail_account(uow, account, "shipment_dispatched", context)
    elif status == "delivered" and isinstance(cause, ShipmentDelivered):
        zone = ZoneInfo(zone_for(account.country, account.timezone))
        await mail_account(
            uow, account, "shipment_delivered", context | {"delivered_on": cause.at.astimezone(zone).date()}
        )


async def fetch_invoice_pdf(settings: Settings, config: SalesConfig, invoice_id: str) -> bytes:
    """Finance's PDF of the invoice; any failure raises (the caller retries later)."""
    token, _ = issue_token("service:sales", ["sales"], settings)
    url = f"{service_url(settings, 'finance')}/api/v1/finance/invoices/{invoice_id}/pdf"
    response = await department_client().get(
        url, headers={"Authorization": f"Bearer {token}"}, timeout=config.finance_timeout
    )
    if response.status_code != 200 or not response.content.startswith(b"%PDF"):
        raise RuntimeError(f"finance answered {response.status_code} for the PDF of invoice {invoice_id}")
    return response.content


async def invoice_issued(uow: UoW, invoice: InvoiceIssued) -> None:
    """Finance issued a proforma or commercial invoice: queue its mail (the PDF is fetched by a job).

    No call to finance inside the handler: the order flow's consumer neither waits for a PDF to
    render nor holds its transaction open over HTTP, and finance being down delays a mail instead
    of stalling the topic and dead-lettering the event.
    """
    if invoice.kind == "credit_note" or await uow.session.get(InvoiceMail, invoice.invoice_id) is not None:
        return
    uow.session.add(
        InvoiceMail(
            invoice_id=invoice.invoice_id,
            account_id=invoice.account_id,
            order_id=invoice.order_id,
            number=invoice.number,
            kind=invoice.kind,
            total=invoice.total.amount,
            currency=invoice.total.currency,
            due_date=invoice.due_date,
        )
    )


def retry_after(attempts: int) -> timedelta:
    """Backoff between PDF fetches: 5 s doubling up to 10 minutes; an invoice mail is never given up."""
    return timedelta(seconds=min(5 * 2 ** min(attempts, 10), 600))


async def send_invoice_mails(uow: UoW) -> int:
    """The scheduler's job: fetch finance's PDF of each queued invoice and mail it to the buyer.

    The due rows are read and the transaction ended before any HTTP call; each row is then locked
    again and re-checked before its mail is written, so a second replica never mails it twice.
    """
    now = utcnow()
    due = claim(
        select(InvoiceMail)
        .where(InvoiceMail.status == "pending", InvoiceMail.next_attempt_at <= now)
        .order_by(InvoiceMail.next_attempt_at)
        .limit(20)
    )
    invoice_ids = [row.invoice_id for row in (await uow.session.exec(due)).all()]
    if not invoice_ids:
        return 0
    await uow.commit()  # no transaction (no SQLite write lock) while finance renders
    fetched: dict[str, bytes | Exception] = {}
    for invoice_id in invoice_ids:
        try:
            fetched[invoice_id] = await fetch_invoice_pdf(uow.settings, uow.config, invoice_id)
        except Exception as exc:
            fetched[invoice_id] = exc
    sent = 0
    for invoice_id, result in fetched.items():
        row = (
            await uow.session.exec(select(InvoiceMail).where(InvoiceMail.invoice_id == invoice_id).with_for_update())
        ).one_or_none()
        if row is None or row.status != "pending":
            continue  # another replica got there first
        account = await uow.session.get(Account, row.account_id)
        if account is None or not reachable(account):
            row.status, row.last_error = "skipped", "no account, or its address was erased"
        elif isinstance(result, Exception):
            row.attempts += 1
            row.last_error = str(result)[:1000]
            row.next_attempt_at = utcnow() + retry_after(row.attempts)
            log.warning("invoice %s: PDF not fetched (%s); retry at %s", row.number, result, row.next_attempt_at)
        else:
            await uow.send_mail(
                "invoice_issued",
                to=account.email,
                language=account.language,
                context={
                    "company": account.company,
                    "number": row.number,
                    "order_id": row.order_id,
                    "total": row.total,
                    "currency": row.currency,
                    "due_date": row.due_date,
                },
                attachments=[Attachment(f"{row.number}.pdf", "application/pdf", result)],
                ref=f"account:{account.id}",
            )
            row.status, row.sent_at, row.last_error = "sent", utcnow(), None
            sent += 1
        uow.session.add(row)
    return sent
