"""How the marketing department reacts to other departments' events: the HANDLERS table."""

from __future__ import annotations

from hanse.consumer import Handler
from services.compliance.contract import PrivacyRequestOpened, ScreeningCompleted
from services.finance.contract import CreditNoteIssued, InvoicePaid
from services.marketing.domain import attribution, leads, privacy, seo
from services.sales.contract import AccountCreated, OrderCancelled, OrderPlaced, ProductCreated

# Each reaction is a domain transaction `(uow, payload)`; its payload annotation is the contract.
HANDLERS: dict[str, Handler] = {
    ScreeningCompleted.event_type: leads.apply_screening,
    AccountCreated.event_type: leads.convert_lead,
    OrderPlaced.event_type: attribution.record_order,
    OrderCancelled.event_type: attribution.record_cancellation,
    InvoicePaid.event_type: attribution.record_payment,
    CreditNoteIssued.event_type: attribution.record_credit_note,
    ProductCreated.event_type: seo.record_product,
    PrivacyRequestOpened.event_type: privacy.answer_privacy_request,
}
