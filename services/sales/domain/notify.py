"""The mail that keeps a buyer informed: quote, order confirmation, invoice (finance's PDF), dispatch, delivery.

Every message goes to the account's email in the account's language through the kernel's mail
outbox (`uow.send_mail`, `ref="account:<id>"`), in the transaction that decides it: a rollback
never sends it, a crash never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from hanse.auth import issue_token
from hanse.uow import Attachment
from services import service_url
from services.finance.contract import InvoiceIssued
from services.logistics.contract import ShipmentDelivered, ShipmentDispatched
from services.sales.config import UoW
from services.sales.domain.sla import zone_for
from services.sales.models import Account, Quote, QuoteLineRow, SalesOrder

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
        carrier = cause.carrier_name or CARRIER_NAMES.get(cause.carrier or "", cause.carrier or "")
        context |= {"carrier_name": carrier or "-", "tracking_number": cause.tracking_number or "-"}
        await mail_account(uow, account, "shipment_dispatched", context)
    elif status == "delivered" and isinstance(cause, ShipmentDelivered):
        zone = ZoneInfo(zone_for(account.country, account.timezone))
        await mail_account(
            uow, account, "shipment_delivered", context | {"delivered_on": cause.at.astimezone(zone).date()}
        )


async def fetch_invoice_pdf(uow: UoW, invoice_id: str) -> bytes:
    """Finance's PDF of the invoice; any failure raises, so the consumer retries the event."""
    token, _ = issue_token("service:sales", ["sales"], uow.settings)
    url = f"{service_url(uow.settings, 'finance')}/api/v1/finance/invoices/{invoice_id}/pdf"
    async with httpx.AsyncClient(timeout=uow.config.finance_timeout) as client:
        response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200 or not response.content.startswith(b"%PDF"):
        raise RuntimeError(f"finance answered {response.status_code} for the PDF of invoice {invoice_id}")
    return response.content


async def invoice_issued(uow: UoW, invoice: InvoiceIssued) -> None:
    """Finance issued a proforma or commercial invoice: mail it to the buyer with finance's PDF attached."""
    if invoice.kind == "credit_note":
        return
    account = await uow.session.get(Account, invoice.account_id)
    if account is None:
        log.warning("invoice %s names account %s that sales does not know: no mail", invoice.number, invoice.account_id)
        return
    if not reachable(account):
        return
    pdf = await fetch_invoice_pdf(uow, invoice.invoice_id)
    context = {
        "number": invoice.number,
        "order_id": invoice.order_id,
        "total": invoice.total.amount,
        "currency": invoice.total.currency,
        "due_date": invoice.due_date,
    }
    await uow.send_mail(
        "invoice_issued",
        to=account.email,
        language=account.language,
        context={"company": account.company, **context},
        attachments=[Attachment(f"{invoice.number}.pdf", "application/pdf", pdf)],
        ref=f"account:{account.id}",
    )
