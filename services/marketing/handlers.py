"""How the marketing department reacts to other departments' events: the HANDLERS table."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.contract import ScreeningCompleted
from services.finance.contract import InvoicePaid
from services.marketing.domain import attribution, leads
from services.sales.contract import AccountCreated, OrderPlaced

# Each reaction is a domain transaction `(uow, payload)`; its payload annotation is the contract.
HANDLERS: dict[str, Handler] = {
    ScreeningCompleted.event_type: leads.apply_screening,
    AccountCreated.event_type: leads.convert_lead,
    OrderPlaced.event_type: attribution.record_order,
    InvoicePaid.event_type: attribution.record_payment,
}
