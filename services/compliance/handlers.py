"""How the compliance department reacts to other departments' events: each screens a party or an order."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.domain import screening
from services.marketing.contract import LeadCaptured
from services.sales.contract import AccountCreated, OrderCancelled, OrderPlaced

# Each reaction is a domain transaction `(uow, payload)`; its payload annotation is the contract.
HANDLERS: dict[str, Handler] = {
    LeadCaptured.event_type: screening.screen_lead,
    AccountCreated.event_type: screening.screen_account,
    OrderPlaced.event_type: screening.screen_order,
    OrderCancelled.event_type: screening.close_cancelled_order,
}
