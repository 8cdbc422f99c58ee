"""HTTP routes of the marketing service under /api/v1/marketing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from hanse.auth import require_roles
from hanse.errors import Invalid
from hanse.http import client_address
from hanse.ids import new_id
from hanse.pagination import Cursor, Limit, Page
from hanse.ratelimit import RateLimiter
from hanse.validators import PRINTABLE, LanguageTag
from services.marketing import views
from services.marketing.config import MarketingConfig, UoWDep, WritingUoWDep
from services.marketing.domain import attribution, campaigns, leads, newsletters, nurture, seo, subscribers
from services.marketing.models import (
    CampaignCreate,
    CampaignPerformance,
    CampaignPublic,
    Channel,
    LeadAccepted,
    LeadCreate,
    LeadPublic,
    LeadStatus,
    NewsletterAccepted,
    NewsletterCreate,
    NewsletterPublic,
    SeoPublic,
    SeoPut,
    SequencePublic,
    SequencePut,
    SpendCreate,
    SpendPublic,
    SubscriberAccepted,
    SubscriberCreate,
    SubscriberPublic,
    SubscriberStatus,
)

router = APIRouter(prefix="/api/v1/marketing", tags=["marketing"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=PRINTABLE)]
Sku = Annotated[str, Path(min_length=1, max_length=64, pattern=PRINTABLE)]
Language = Annotated[LanguageTag, Path()]
Token = Annotated[str, Query(min_length=1, max_length=1000, pattern=PRINTABLE)]
Marketing = require_roles("marketing")
MarketingOrSales = require_roles("marketing", "sales")


def limit_lead_form(request: Request) -> None:
    """Dependency of the public form: 429 with Retry-After once a client exceeds the limit."""
    config: MarketingConfig = request.app.state.config
    limiter: RateLimiter = request.app.state.lead_limiter
    limiter.enforce(client_address(request, behind_gateway=config.behind_gateway), "lead submissions")


def limit_subscribe_form(request: Request) -> None:
    config: MarketingConfig = request.app.state.config
    limiter: RateLimiter = request.app.state.subscribe_limiter
    limiter.enforce(client_address(request, behind_gateway=config.behind_gateway), "subscriptions")


def limit_links(request: Request) -> None:
    """Confirm and unsubscribe links: public, so limited per client too (looser: mail clients prefetch)."""
    config: MarketingConfig = request.app.state.config
    limiter: RateLimiter = request.app.state.link_limiter
    limiter.enforce(client_address(request, behind_gateway=config.behind_gateway), "link requests")


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


# -- subscribers: double opt-in, one-click unsubscribe -------------------------------------------------------


@router.post(
    "/subscribers",
    status_code=202,
    response_model=SubscriberAccepted,
    dependencies=[Depends(limit_subscribe_form)],
    summary="Public newsletter sign-up (no login; rate-limited): sends a confirmation link",
)
async def subscribe(body: SubscriberCreate, uow: UoWDep) -> SubscriberAccepted:
    subscriber = await subscribers.subscribe(uow, body)
    return SubscriberAccepted(id=subscriber.id, status="pending")


@router.get(
    "/subscribers/confirm",
    response_model=SubscriberAccepted,
    dependencies=[Depends(limit_links)],
    summary="Public: the link of the confirmation mail (valid 7 days, once)",
)
async def confirm_subscription(token: Token, uow: WritingUoWDep) -> SubscriberAccepted:
    subscriber = await subscribers.confirm(uow, token)
    return SubscriberAccepted(id=subscriber.id, status="confirmed")


@router.get("/subscribers", response_model=Page[SubscriberPublic], dependencies=[Marketing])
async def list_subscribers(
    uow: UoWDep,
    status: Annotated[SubscriberStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[SubscriberPublic]:
    page = await subscribers.list_subscribers(uow.session, status, cursor, limit)
    return page.map(views.subscriber_public)


ONE_CLICK = b"List-Unsubscribe=One-Click"


@router.post(
    "/unsubscribe",
    dependencies=[Depends(limit_links)],
    summary="Public: RFC 8058 one-click unsubscribe (body List-Unsubscribe=One-Click); no marketing mail again",
)
async def unsubscribe(token: Token, request: Request, uow: UoWDep) -> dict[str, str]:
    if ONE_CLICK not in (await request.body())[:10_000]:
        raise Invalid("the body must be List-Unsubscribe=One-Click (RFC 8058)", field="List-Unsubscribe")
    await subscribers.unsubscribe(uow, token)
    return {"status": "unsubscribed"}


# -- newsletters and nurture ----------------------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/emails", status_code=201, response_model=NewsletterPublic, dependencies=[Marketing]
)
async def create_newsletter(campaign_id: Id, body: NewsletterCreate, uow: UoWDep) -> NewsletterPublic:
    newsletter = await newsletters.create_newsletter(uow, campaign_id, body)
    return await newsletters.newsletter_public(uow.session, newsletter)


@router.get("/campaigns/{campaign_id}/emails/{email_id}", response_model=NewsletterPublic, dependencies=[Marketing])
async def get_newsletter(campaign_id: Id, email_id: Id, uow: UoWDep) -> NewsletterPublic:
    await campaigns.get_campaign(uow.session, campaign_id)
    newsletter = await newsletters.get_newsletter(uow.session, campaign_id, email_id)
    return await newsletters.newsletter_public(uow.session, newsletter)


@router.post(
    "/campaigns/{campaign_id}/emails/{email_id}/send",
    status_code=202,
    response_model=NewsletterAccepted,
    dependencies=[Marketing],
    summary="Send to the confirmed subscribers, in batches (answers at once)",
)
async def send_newsletter(campaign_id: Id, email_id: Id, uow: UoWDep) -> NewsletterAccepted:
    newsletter = await newsletters.request_send(uow, campaign_id, email_id)
    return NewsletterAccepted(id=newsletter.id, status="sending")


@router.put("/campaigns/{campaign_id}/sequence", response_model=SequencePublic, dependencies=[Marketing])
async def put_sequence(campaign_id: Id, body: SequencePut, uow: UoWDep) -> SequencePublic:
    return await nurture.put_sequence(uow, campaign_id, body)


@router.get("/campaigns/{campaign_id}/sequence", response_model=SequencePublic, dependencies=[Marketing])
async def get_sequence(campaign_id: Id, uow: UoWDep) -> SequencePublic:
    return await nurture.get_sequence(uow.session, campaign_id)


# -- SEO ---------------------------------------------------------------------------------------------------


@router.put("/seo/products/{sku}/{language}", response_model=SeoPublic, dependencies=[Marketing])
async def put_seo_metadata(sku: Sku, language: Language, body: SeoPut, uow: UoWDep) -> SeoPublic:
    meta = await seo.put_metadata(uow, sku, language, body)
    return views.seo_public(meta, uow.config.storefront_url)


@router.get("/seo/products/{sku}/{language}", response_model=SeoPublic, dependencies=[Marketing])
async def get_seo_metadata(sku: Sku, language: Language, uow: UoWDep) -> SeoPublic:
    meta = await seo.get_metadata(uow.session, sku, language)
    return views.seo_public(meta, uow.config.storefront_url)


@router.get(
    "/sitemap.xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
    summary="Public: the storefront's sitemap (the gateway serves it as /sitemap.xml)",
)
async def sitemap(uow: UoWDep) -> Response:
    pages = await seo.pages_by_product(uow.session)
    return Response(views.sitemap_xml(pages, uow.config.storefront_url), media_type="application/xml")
