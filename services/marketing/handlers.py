"""How the marketing department reacts to other departments' events: the HANDLERS table."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.contract import ScreeningCompleted
from services.finance.contract import InvoicePaid
from services.marketing.config import UoW
from services.marketing.domain import attribution, leads
from services.sales.contract import AccountCreated, OrderPlaced


async def on_screening_completed(uow: UoW, payload: ScreeningCompleted) -> None:
    await leads.apply_screening(uow, payload)


async def on_account_created(uow: UoW, payload: AccountCreated) -> None:
    await leads.convert_lead(uow, payload)


async def on_order_placed(uow: UoW, payload: OrderPlaced) -> None:
    await attribution.record_order(uow, payload)


async def on_invoice_paid(uow: UoW, payload: InvoicePaid) -> None:
    await attribution.record_payment(uow, payload)


HANDLERS: dict[str, Handler] = {
    "compliance.screening.completed.v1": on_screening_completed,
    "sales.account.created.v1": on_account_created,
    "sales.order.placed.v1": on_order_placed,
    "finance.invoice.paid.v1": on_invoice_paid,
}
