"""How the marketing department reacts to other departments' events."""

from __future__ import annotations

import logging
from datetime import UTC

from sqlmodel import select

from hanse.consumer import EventContext, Handler
from hanse.events import utcnow
from services.compliance.contract import ScreeningCompleted
from services.finance.contract import InvoicePaid
from services.marketing import domain
from services.marketing.contract import LeadConverted, LeadDisqualified, LeadQualified
from services.marketing.models import Lead, PaidInvoice, PlacedOrder
from services.sales.contract import AccountCreated, OrderPlaced

log = logging.getLogger("hanse.marketing")


async def _locked_lead(ctx: EventContext, lead_id: str) -> Lead | None:
    # FOR UPDATE on PostgreSQL; on SQLite the transaction already holds the write lock.
    result = await ctx.session.exec(select(Lead).where(Lead.id == lead_id).with_for_update())
    return result.first()


async def on_screening_completed(ctx: EventContext, payload: ScreeningCompleted) -> None:
    """Clear qualifies a new lead, blocked disqualifies it, review waits for the officer."""
    if payload.subject_type != "lead":
        return
    lead = await _locked_lead(ctx, payload.subject_id)
    if lead is None:
        log.warning("screening %s names unknown lead %s; ignored", payload.check_id, payload.subject_id)
        return
    status = domain.screening_transition(lead.status, payload.result)
    if status is None:
        if payload.result == "review" and lead.status == "new":
            lead.status_reason = "screening under review: " + domain.screening_reason(
                payload.reasons, "awaiting an officer"
            )
            lead.updated_at = utcnow()
            ctx.session.add(lead)
        return
    lead.status = status
    lead.updated_at = utcnow()
    if status == "qualified":
        lead.status_reason = None
        await ctx.publish(
            LeadQualified(
                lead_id=lead.id,
                company=lead.company,
                contact_name=lead.contact_name,
                email=lead.email,
                country=lead.country,
                language=lead.language,
                campaign_id=lead.campaign_id,
            )
        )
    else:
        lead.status_reason = domain.screening_reason(payload.reasons)
        await ctx.publish(LeadDisqualified(lead_id=lead.id, reason=lead.status_reason))
    ctx.session.add(lead)


async def on_account_created(ctx: EventContext, payload: AccountCreated) -> None:
    """An account opened from a lead converts it (and links the account for order attribution)."""
    if payload.lead_id is None:
        return
    lead = await _locked_lead(ctx, payload.lead_id)
    if lead is None:
        log.warning("account %s names unknown lead %s; ignored", payload.account_id, payload.lead_id)
        return
    if not domain.account_converts(lead.status, lead.account_id, payload.account_id):
        if lead.account_id != payload.account_id:
            log.warning(
                "lead %s already converted to %s; account %s ignored", lead.id, lead.account_id, payload.account_id
            )
        return
    previous = lead.status
    lead.status = "converted"
    lead.account_id = payload.account_id
    lead.updated_at = utcnow()
    if previous == "disqualified":
        lead.status_reason = f"account opened although disqualified ({lead.status_reason})"
    ctx.session.add(lead)
    await ctx.publish(LeadConverted(lead_id=lead.id, account_id=payload.account_id, campaign_id=lead.campaign_id))


async def on_order_placed(ctx: EventContext, payload: OrderPlaced) -> None:
    """Remember the order's lead and account; its campaign is resolved when performance is asked."""
    if await ctx.session.get(PlacedOrder, payload.order_id) is not None:
        return
    placed_at = payload.order.placed_at
    if placed_at.tzinfo is None:  # the contract says UTC; a naive stamp must not stall the consumer
        placed_at = placed_at.replace(tzinfo=UTC)
    ctx.session.add(
        PlacedOrder(
            order_id=payload.order_id,
            lead_id=payload.order.lead_id,
            account_id=payload.order.account_id,
            placed_at=placed_at,
        )
    )


async def on_invoice_paid(ctx: EventContext, payload: InvoicePaid) -> None:
    """Paid revenue, once per invoice; stored even before the order is known (credited when it is)."""
    if await ctx.session.get(PaidInvoice, payload.invoice_id) is not None:
        return
    ctx.session.add(
        PaidInvoice(
            invoice_id=payload.invoice_id,
            order_id=payload.order_id,
            amount_base=payload.total_base.amount,
            base_currency=payload.total_base.currency,
            fx_rate_date=payload.fx_rate_date,
            paid_at=ctx.event.time,
        )
    )


HANDLERS: dict[str, Handler] = {
    "compliance.screening.completed.v1": on_screening_completed,
    "sales.account.created.v1": on_account_created,
    "sales.order.placed.v1": on_order_placed,
    "finance.invoice.paid.v1": on_invoice_paid,
}
