"""How the compliance department reacts to other departments' events."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.config import UoW
from services.compliance.domain import screening
from services.marketing.contract import LeadCaptured
from services.sales.contract import AccountCreated, OrderCancelled, OrderPlaced


async def on_lead_captured(uow: UoW, payload: LeadCaptured) -> None:
    await screening.screen_lead(uow, payload)


async def on_account_created(uow: UoW, payload: AccountCreated) -> None:
    await screening.screen_account(uow, payload)


async def on_order_placed(uow: UoW, payload: OrderPlaced) -> None:
    await screening.screen_order(uow, payload)


async def on_order_cancelled(uow: UoW, payload: OrderCancelled) -> None:
    await screening.close_cancelled_order(uow, payload)


HANDLERS: dict[str, Handler] = {
    LeadCaptured.event_type: on_lead_captured,
    AccountCreated.event_type: on_account_created,
    OrderPlaced.event_type: on_order_placed,
    OrderCancelled.event_type: on_order_cancelled,
}
