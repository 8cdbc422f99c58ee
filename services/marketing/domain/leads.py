"""Leads: capture from the public form with consent, then the life cycle screening and sales drive."""

from __future__ import annotations

import logging

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.events import utcnow
from hanse.ids import new_id
from hanse.pagination import Page, get_or_404, paginate
from services.compliance.contract import ScreeningCompleted
from services.marketing import views
from services.marketing.config import UoW
from services.marketing.domain import nurture
from services.marketing.domain.rules import (
    HOT_LEAD,
    account_converts,
    score_lead,
    screening_reason,
    screening_transition,
)
from services.marketing.models import Campaign, ConsentRecord, Lead, LeadCreate, normalise_utm_campaign
from services.sales.contract import AccountCreated

log = logging.getLogger("hanse.marketing")

CONSENT_PURPOSE = "marketing"
CONSENT_SOURCE = "lead_form"


async def campaign_for_utm(session: AsyncSession, utm_campaign: str | None) -> Campaign | None:
    code = normalise_utm_campaign(utm_campaign)
    if code is None:
        return None
    found = await session.exec(select(Campaign).where(Campaign.utm_campaign == code))
    return found.first()


async def capture_lead(uow: UoW, body: LeadCreate) -> Lead:
    """Store the lead with its UTM attribution and consent record, and tell compliance to screen it."""
    utm = body.utm
    now = utcnow()
    campaign = await campaign_for_utm(uow.session, utm.campaign if utm else None)
    # The channel that brought the lead: its campaign's, else the UTM medium it named.
    channel = campaign.channel if campaign else (utm.medium.lower() if utm and utm.medium else None)
    score, reasons = score_lead(
        email=str(body.email),
        country=body.country,
        message=body.message,
        channel=channel,
        consent_marketing=body.consent_marketing,
    )
    lead = Lead.model_validate(
        body.model_dump(include=set(Lead.model_fields)),
        update={
            "id": new_id("lead"),
            "status": "new",
            "campaign_id": campaign.id if campaign else None,
            "score": score,
            "score_reasons": reasons,
            "utm_source": (utm.source or None) if utm else None,
            "utm_medium": (utm.medium or None) if utm else None,
            "utm_campaign": normalise_utm_campaign(utm.campaign) if utm else None,
            "created_at": now,
            "updated_at": now,
        },
    )
    uow.session.add(lead)
    # Declined consent is recorded too: proof that no marketing consent was given.
    uow.session.add(
        ConsentRecord(
            id=new_id("cns"),
            lead_id=lead.id,
            email=lead.email,
            purpose=CONSENT_PURPOSE,
            granted=body.consent_marketing,
            text_version=body.consent_text_version or uow.config.consent_text_version,
            source=CONSENT_SOURCE,
            recorded_at=now,
        )
    )
    await uow.publish(views.lead_captured(lead), correlation_id=lead.id)
    if score >= HOT_LEAD:
        await uow.publish(views.lead_scored(lead), correlation_id=lead.id)
    await uow.commit()
    return lead


async def get_lead(session: AsyncSession, lead_id: str) -> Lead:
    return await get_or_404(session, Lead, lead_id, what="lead", field="id")


async def list_leads(
    session: AsyncSession, status: str | None, campaign_id: str | None, cursor: str | None, limit: int
) -> Page[Lead]:
    filters = {Lead.status: status, Lead.campaign_id: campaign_id}
    return await paginate(session, select(Lead), Lead.id, cursor, limit, filters=filters)


async def _locked_lead(uow: UoW, lead_id: str) -> Lead | None:
    # FOR UPDATE on PostgreSQL; on SQLite the transaction already holds the write lock.
    result = await uow.session.exec(select(Lead).where(Lead.id == lead_id).with_for_update())
    return result.first()


async def apply_screening(uow: UoW, screening: ScreeningCompleted) -> None:
    """Clear qualifies a new lead, blocked disqualifies it, review waits for the officer."""
    if screening.subject_type != "lead":
        return
    lead = await _locked_lead(uow, screening.subject_id)
    if lead is None:
        log.warning("screening %s names unknown lead %s; ignored", screening.check_id, screening.subject_id)
        return
    status = screening_transition(lead.status, screening.result)
    if status is None:
        if screening.result == "review" and lead.status == "new":
            lead.status_reason = "screening under review: " + screening_reason(screening.reasons, "awaiting an officer")
            lead.updated_at = utcnow()
            uow.session.add(lead)
        return
    lead.status = status
    lead.updated_at = utcnow()
    if status == "qualified":
        lead.status_reason = None
        lead.qualified_at = lead.updated_at
        await nurture.schedule_lead(uow.session, lead)
        await uow.publish(views.lead_qualified(lead))
    else:
        lead.status_reason = screening_reason(screening.reasons)
        await uow.publish(views.lead_disqualified(lead))
    uow.session.add(lead)


async def convert_lead(uow: UoW, account: AccountCreated) -> None:
    """An account opened from a lead converts it (and links the account for order attribution)."""
    if account.lead_id is None:
        return
    lead = await _locked_lead(uow, account.lead_id)
    if lead is None:
        log.warning("account %s names unknown lead %s; ignored", account.account_id, account.lead_id)
        return
    if not account_converts(lead.status, lead.account_id, account.account_id):
        if lead.account_id != account.account_id:
            log.warning(
                "lead %s already converted to %s; account %s ignored", lead.id, lead.account_id, account.account_id
            )
        return
    previous = lead.status
    lead.status = "converted"
    lead.account_id = account.account_id
    lead.updated_at = utcnow()
    lead.nurture_due_at = None  # a customer now: nurture stops
    if previous == "disqualified":
        lead.status_reason = f"account opened although disqualified ({lead.status_reason})"
    uow.session.add(lead)
    await uow.publish(views.lead_converted(lead))
