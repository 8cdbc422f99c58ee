"""HTTP routes of the marketing service under /api/v1/marketing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from hanse.auth import require_roles
from hanse.http import client_address
from hanse.ids import new_id
from hanse.pagination import Cursor, Limit, Page
from hanse.ratelimit import RateLimiter
from hanse.validators import PRINTABLE
from services.marketing import views
from services.marketing.config import MarketingConfig, UoWDep
from services.marketing.domain import attribution, campaigns, leads
from services.marketing.models import (
    CampaignCreate,
    CampaignPerformance,
    CampaignPublic,
    Channel,
    LeadAccepted,
    LeadCreate,
    LeadPublic,
    LeadStatus,
    SpendCreate,
    SpendPublic,
)

router = APIRouter(prefix="/api/v1/marketing", tags=["marketing"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=PRINTABLE)]
Marketing = require_roles("marketing")
MarketingOrSales = require_roles("marketing", "sales")


def limit_lead_form(request: Request) -> None:
    """Dependency of the public form: 429 with Retry-After once a client exceeds the limit."""
    config: MarketingConfig = request.app.state.config
    limiter: RateLimiter = request.app.state.lead_limiter
    limiter.enforce(client_address(request, behind_gateway=config.behind_gateway), "lead submissions")


# -- campaigns ------------------------------------------------------------------------------------------


@router.post("/campaigns", status_code=201, response_model=CampaignPublic, dependencies=[Marketing])
async def create_campaign(body: CampaignCreate, uow: UoWDep) -> CampaignPublic:
    return views.campaign_public(await campaigns.create_campaign(uow, body), spent=0)


@router.get("/campaigns", response_model=Page[CampaignPublic], dependencies=[Marketing])
async def list_campaigns(
    uow: UoWDep, channel: Annotated[Channel | None, Query()] = None, cursor: Cursor = None, limit: Limit = 50
) -> Page[CampaignPublic]:
    page = await campaigns.list_campaigns(uow.session, channel, cursor, limit)
    spent = await campaigns.spend_totals(uow.session, [c.id for c in page.items])
    return page.map(lambda c: views.campaign_public(c, spent.get(c.id, 0)))


@router.get("/campaigns/{campaign_id}", response_model=CampaignPublic, dependencies=[Marketing])
async def get_campaign(campaign_id: Id, uow: UoWDep) -> CampaignPublic:
    campaign = await campaigns.get_campaign(uow.session, campaign_id)
    spent = await campaigns.spend_totals(uow.session, [campaign.id])
    return views.campaign_public(campaign, spent.get(campaign.id, 0))


@router.post("/campaigns/{campaign_id}/spend", status_code=201, response_model=SpendPublic, dependencies=[Marketing])
async def record_spend(campaign_id: Id, body: SpendCreate, uow: UoWDep) -> SpendPublic:
    return views.spend_public(await campaigns.record_spend(uow, campaign_id, body))


@router.get("/campaigns/{campaign_id}/spend", response_model=Page[SpendPublic], dependencies=[Marketing])
async def list_spend(campaign_id: Id, uow: UoWDep, cursor: Cursor = None, limit: Limit = 50) -> Page[SpendPublic]:
    page = await campaigns.list_spend(uow.session, campaign_id, cursor, limit)
    return page.map(views.spend_public)


@router.get("/campaigns/{campaign_id}/performance", response_model=CampaignPerformance, dependencies=[Marketing])
async def campaign_performance(campaign_id: Id, uow: UoWDep) -> CampaignPerformance:
    campaign = await campaigns.get_campaign(uow.session, campaign_id)
    return await attribution.campaign_performance(uow.session, campaign, uow.settings.base_currency)


# -- leads --------------------------------------------------------------------------------------------------


@router.post(
    "/leads",
    status_code=202,
    response_model=LeadAccepted,
    dependencies=[Depends(limit_lead_form)],
    summary="Public lead form (no login; rate-limited per client IP)",
)
async def capture_lead(body: LeadCreate, uow: UoWDep) -> LeadAccepted:
    if body.website:
        # A bot filled the hidden field: answer like a success, keep nothing.
        return LeadAccepted(id=new_id("lead"), status="new")
    lead = await leads.capture_lead(uow, body)
    return LeadAccepted(id=lead.id, status="new")


@router.get("/leads", response_model=Page[LeadPublic], dependencies=[MarketingOrSales])
async def list_leads(
    uow: UoWDep,
    status: Annotated[LeadStatus | None, Query()] = None,
    campaign_id: Annotated[str | None, Query(min_length=1, max_length=100, pattern=PRINTABLE)] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[LeadPublic]:
    page = await leads.list_leads(uow.session, status, campaign_id, cursor, limit)
    return page.map(views.lead_public)


@router.get("/leads/{lead_id}", response_model=LeadPublic, dependencies=[MarketingOrSales])
async def get_lead(lead_id: Id, uow: UoWDep) -> LeadPublic:
    return views.lead_public(await leads.get_lead(uow.session, lead_id))
