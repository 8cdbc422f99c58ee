"""HTTP routes of the marketing service under /api/v1/marketing."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlmodel import select
from starlette.exceptions import HTTPException

from hanse.app import SessionDep
from hanse.auth import require_roles
from hanse.errors import Invalid
from hanse.pagination import Cursor, Limit, Page, decode_cursor, paginate
from services.marketing import domain
from services.marketing.models import (
    Campaign,
    CampaignCreate,
    CampaignPerformance,
    CampaignPublic,
    Channel,
    Lead,
    LeadAccepted,
    LeadCreate,
    LeadPublic,
    SpendCreate,
    SpendEntry,
    SpendPublic,
)

router = APIRouter(prefix="/api/v1/marketing", tags=["marketing"])

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # PostgreSQL cannot even compare a NUL
Id = Annotated[str, Path(min_length=1, max_length=100, pattern=PRINTABLE)]
Marketing = require_roles("marketing")
MarketingOrSales = require_roles("marketing", "sales")


def checked(cursor: str | None) -> str | None:
    """A forged cursor may decode to control characters, which PostgreSQL refuses: 422, not 500."""
    if cursor and re.search(r"[\x00-\x1f\x7f]", decode_cursor(cursor)):
        raise Invalid("cursor is not one this API issued", field="cursor")
    return cursor


def limit_lead_form(request: Request) -> None:
    """Dependency of the public form: 429 with Retry-After once a client exceeds the limit."""
    config: domain.MarketingSettings = request.app.state.marketing
    key = domain.client_key(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        config.behind_gateway,
    )
    wait = request.app.state.lead_limiter.hit(key)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many lead submissions; allowed {config.lead_rate_limit} per client, retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


# -- campaigns ------------------------------------------------------------------------------------------


@router.post("/campaigns", status_code=201, response_model=CampaignPublic, dependencies=[Marketing])
async def create_campaign(body: CampaignCreate, request: Request, session: SessionDep) -> CampaignPublic:
    campaign = await domain.create_campaign(session, body, request.app.state.settings)
    await domain.commit_campaign(session, campaign)
    return domain.campaign_public(campaign, spent=0)


@router.get("/campaigns", response_model=Page[CampaignPublic], dependencies=[Marketing])
async def list_campaigns(
    session: SessionDep,
    channel: Annotated[Channel | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CampaignPublic]:
    query = select(Campaign)
    if channel:
        query = query.where(Campaign.channel == channel)
    page = await paginate(session, query, Campaign.id, checked(cursor), limit)
    spent = await domain.spend_totals(session, [c.id for c in page.items])
    items = [domain.campaign_public(c, spent.get(c.id, 0)) for c in page.items]
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic, dependencies=[Marketing])
async def get_campaign(campaign_id: Id, session: SessionDep) -> CampaignPublic:
    campaign = await domain.get_campaign(session, campaign_id)
    spent = await domain.spend_totals(session, [campaign.id])
    return domain.campaign_public(campaign, spent.get(campaign.id, 0))


@router.post("/campaigns/{campaign_id}/spend", status_code=201, response_model=SpendPublic, dependencies=[Marketing])
async def record_spend(campaign_id: Id, body: SpendCreate, request: Request, session: SessionDep) -> SpendPublic:
    campaign = await domain.get_campaign(session, campaign_id)
    entry = await domain.record_spend(session, campaign, body, request.app.state.settings)
    await session.commit()
    return spend_public(entry)


@router.get("/campaigns/{campaign_id}/spend", response_model=Page[SpendPublic], dependencies=[Marketing])
async def list_spend(
    campaign_id: Id, session: SessionDep, cursor: Cursor = None, limit: Limit = 50
) -> Page[SpendPublic]:
    await domain.get_campaign(session, campaign_id)
    query = select(SpendEntry).where(SpendEntry.campaign_id == campaign_id)
    page = await paginate(session, query, SpendEntry.id, checked(cursor), limit)
    return Page(items=[spend_public(e) for e in page.items], next_cursor=page.next_cursor)


@router.get("/campaigns/{campaign_id}/performance", response_model=CampaignPerformance, dependencies=[Marketing])
async def campaign_performance(campaign_id: Id, request: Request, session: SessionDep) -> CampaignPerformance:
    campaign = await domain.get_campaign(session, campaign_id)
    return await domain.campaign_performance(session, campaign, request.app.state.settings)


def spend_public(entry: SpendEntry) -> SpendPublic:
    return SpendPublic(
        id=entry.id,
        campaign_id=entry.campaign_id,
        amount={"amount": entry.amount, "currency": entry.currency},
        amount_base={"amount": entry.amount_base, "currency": entry.base_currency},
        fx_rate=entry.fx_rate,
        fx_rate_date=entry.fx_rate_date,
        note=entry.note,
        on=entry.on,
        created_at=entry.created_at,
    )


# -- leads --------------------------------------------------------------------------------------------------


@router.post(
    "/leads",
    status_code=202,
    response_model=LeadAccepted,
    dependencies=[Depends(limit_lead_form)],
    summary="Public lead form (no login; rate-limited per client IP)",
)
async def capture_lead(body: LeadCreate, request: Request, session: SessionDep) -> LeadAccepted:
    if body.website:
        # A bot filled the hidden field: answer like a success, keep nothing.
        return LeadAccepted(id=domain.new_id("lead"), status="new")
    lead = await domain.capture_lead(session, body, request.app.state.marketing.consent_text_version)
    await session.commit()
    return LeadAccepted(id=lead.id, status="new")


@router.get("/leads", response_model=Page[LeadPublic], dependencies=[MarketingOrSales])
async def list_leads(
    session: SessionDep,
    status: Annotated[Literal["new", "qualified", "disqualified", "converted"] | None, Query()] = None,
    campaign_id: Annotated[str | None, Query(min_length=1, max_length=100, pattern=PRINTABLE)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LeadPublic]:
    query = select(Lead)
    if status:
        query = query.where(Lead.status == status)
    if campaign_id:
        query = query.where(Lead.campaign_id == campaign_id)
    page = await paginate(session, query, Lead.id, checked(cursor), limit)
    return Page(items=[LeadPublic.of(lead) for lead in page.items], next_cursor=page.next_cursor)


@router.get("/leads/{lead_id}", response_model=LeadPublic, dependencies=[MarketingOrSales])
async def get_lead(lead_id: Id, session: SessionDep) -> LeadPublic:
    return LeadPublic.of(await domain.get_lead(session, lead_id))
