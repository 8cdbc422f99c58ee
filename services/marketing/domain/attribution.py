"""Attribution: orders and paid invoices from sales and finance, credited to campaigns when asked."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from sqlalchemy import case, func
from sqlalchemy.orm import aliased
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.events import utcnow
from hanse.money import Money
from services.finance.contract import CreditNoteIssued, InvoicePaid
from services.marketing.config import UoW
from services.marketing.domain.rules import cost_per_lead, return_on_ad_spend, to_base
from services.marketing.models import (
    Campaign,
    CampaignPerformance,
    CancelledOrder,
    CreditedNote,
    Lead,
    PaidInvoice,
    PlacedOrder,
    SpendEntry,
)
from services.sales.contract import OrderCancelled, OrderPlaced


async def record_order(uow: UoW, placed: OrderPlaced) -> None:
    """Remember the order's lead and account; its campaign is resolved when performance is asked."""
    if await uow.session.get(PlacedOrder, placed.order_id) is not None:
        return
    placed_at = placed.order.placed_at
    if placed_at.tzinfo is None:  # the contract says UTC; a naive stamp must not stall the consumer
        placed_at = placed_at.replace(tzinfo=UTC)
    uow.session.add(
        PlacedOrder(
            order_id=placed.order_id,
            lead_id=placed.order.lead_id,
            account_id=placed.order.account_id,
            placed_at=placed_at,
        )
    )


async def record_payment(uow: UoW, paid: InvoicePaid) -> None:
    """Paid revenue, once per invoice; stored even before the order is known (credited when it is)."""
    if await uow.session.get(PaidInvoice, paid.invoice_id) is not None:
        return
    paid_at = uow.cause.time if uow.cause else utcnow()  # the finance event's time is when it was paid
    uow.session.add(
        PaidInvoice(
            invoice_id=paid.invoice_id,
            order_id=paid.order_id,
            amount_base=paid.total_base.amount,
            base_currency=paid.total_base.currency,
            fx_rate_date=paid.fx_rate_date,
            paid_at=paid_at,
        )
    )


async def _count(session: AsyncSession, *where: object) -> int:
    result = await session.exec(select(func.count()).select_from(Lead).where(*where))
    return int(result.one())


async def campaign_performance(session: AsyncSession, campaign: Campaign, base: str) -> CampaignPerformance:
    """Leads from the lead table; orders and paid revenue from sales' and finance's events, in `base`.

    An order belongs to the campaign of its lead (order.lead_id), or else of the lead its
    account was opened from. The join is made here, at query time, so events arriving in any
    order across topics (invoice paid before order placed, order before account) count as soon
    as the last of them is in.
    """
    leads = await _count(session, Lead.campaign_id == campaign.id)
    qualified = await _count(session, Lead.campaign_id == campaign.id, Lead.status.in_(("qualified", "converted")))
    converted = await _count(session, Lead.campaign_id == campaign.id, Lead.status == "converted")

    by_lead, by_account = aliased(Lead), aliased(Lead)
    order_campaign = case((by_lead.id.is_not(None), by_lead.campaign_id), else_=by_account.campaign_id)
    attributed = (
        select(PlacedOrder.order_id)
        .outerjoin(by_lead, by_lead.id == PlacedOrder.lead_id)
        .outerjoin(by_account, by_account.account_id == PlacedOrder.account_id)
        .where(order_campaign == campaign.id)
        .distinct()
    )
    order_ids = list((await session.exec(attributed)).all())
    revenue = credited = Decimal(0)
    cancelled = 0
    if order_ids:
        paid = await session.exec(select(PaidInvoice).where(PaidInvoice.order_id.in_(order_ids)))
        for invoice in paid.all():
            revenue += to_base(invoice.amount_base, invoice.base_currency, base, invoice.fx_rate_date)
        # Money given back is not revenue: a credit note (cancellation after payment, a return)
        # is subtracted; a cancelled order is no longer an order.
        notes = await session.exec(select(CreditedNote).where(CreditedNote.order_id.in_(order_ids)))
        for note in notes.all():
            credited += to_base(note.amount_base, note.base_currency, base, note.issued_at.date())
        gone = await session.exec(
            select(func.count()).select_from(CancelledOrder).where(CancelledOrder.order_id.in_(order_ids))
        )
        cancelled = int(gone.one())
    revenue -= credited

    spend = Decimal(0)
    entries = await session.exec(select(SpendEntry).where(SpendEntry.campaign_id == campaign.id))
    for entry in entries.all():
        if entry.base_currency == base:
            spend += entry.amount_base
        else:  # the base currency setting changed since: convert the original amount again
            spend += to_base(entry.amount, entry.currency, base, entry.on)

    return CampaignPerformance(
        campaign_id=campaign.id,
        leads=leads,
        qualified=qualified,
        converted=converted,
        orders=len(order_ids) - cancelled,
        cancelled_orders=cancelled,
        revenue=Money.of(revenue, base),
        credited=Money.of(credited, base),
        spend=Money.of(spend, base),
        roas=return_on_ad_spend(revenue, spend),
        cost_per_lead=cost_per_lead(spend, leads, base),
        currency=base,
    )


async def record_cancellation(uow: UoW, cancelled: OrderCancelled) -> None:
    """A cancelled order stops counting as an order of its campaign (it may arrive before the order)."""
    if await uow.session.get(CancelledOrder, cancelled.order_id) is None:
        at = uow.cause.time if uow.cause else utcnow()
        uow.session.add(CancelledOrder(order_id=cancelled.order_id, cancelled_at=at))


async def record_credit_note(uow: UoW, note: CreditNoteIssued) -> None:
    """Money given back (cancellation after payment, return): subtracted from the campaign's revenue."""
    if await uow.session.get(CreditedNote, note.credit_note_id) is None:
        at = uow.cause.time if uow.cause else utcnow()
        uow.session.add(
            CreditedNote(
                credit_note_id=note.credit_note_id,
                order_id=note.order_id,
                amount_base=note.total_base.amount,
                base_currency=note.total_base.currency,
                issued_at=at,
            )
        )
