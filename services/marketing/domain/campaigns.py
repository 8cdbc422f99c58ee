"""Campaigns and their spend: creating a campaign under a unique UTM code, recording money spent."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse.errors import Conflict, Invalid
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import convert
from hanse.pagination import Page, get_or_404, paginate
from services.marketing import views
from services.marketing.config import UoW
from services.marketing.domain.rules import check_amount, check_fx_available
from services.marketing.models import Campaign, CampaignCreate, SpendCreate, SpendEntry


def _code_taken(utm_campaign: str) -> Conflict:
    return Conflict(f"utm_campaign {utm_campaign!r} is used by another campaign", field="utm_campaign")


async def create_campaign(uow: UoW, body: CampaignCreate) -> Campaign:
    """Create and commit; a concurrent campaign that took the same code first turns into the same 409."""
    check_amount(body.budget, "budget.amount")
    if body.starts_on and body.ends_on and body.ends_on < body.starts_on:
        raise Invalid("ends_on is before starts_on", field="ends_on")
    check_fx_available(body.budget.currency, uow.settings.base_currency, "budget.currency")
    taken = await uow.session.exec(select(Campaign.id).where(Campaign.utm_campaign == body.utm_campaign))
    if taken.first() is not None:
        raise _code_taken(body.utm_campaign)
    campaign = Campaign.model_validate(
        body.model_dump(exclude={"budget"}),
        update={
            "id": new_id("cmp"),
            "budget_amount": body.budget.amount,
            "budget_currency": body.budget.currency,
            "created_at": utcnow(),
        },
    )
    uow.session.add(campaign)
    await uow.publish(views.campaign_created(campaign), correlation_id=campaign.id)
    try:
        await uow.commit()
    except IntegrityError:
        await uow.rollback()
        raise _code_taken(campaign.utm_campaign) from None
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    return await get_or_404(session, Campaign, campaign_id, what="campaign", field="id")


async def list_campaigns(session: AsyncSession, channel: str | None, cursor: str | None, limit: int) -> Page[Campaign]:
    return await paginate(session, select(Campaign), Campaign.id, cursor, limit, filters={Campaign.channel: channel})


async def list_spend(session: AsyncSession, campaign_id: str, cursor: str | None, limit: int) -> Page[SpendEntry]:
    await get_campaign(session, campaign_id)
    query = select(SpendEntry).where(SpendEntry.campaign_id == campaign_id)
    return await paginate(session, query, SpendEntry.id, cursor, limit)


async def spend_totals(session: AsyncSession, campaign_ids: list[str]) -> dict[str, Decimal]:
    """Spend so far per campaign, in each campaign's budget currency (spend must be in it)."""
    if not campaign_ids:
        return {}
    rows = await session.exec(
        select(SpendEntry.campaign_id, func.sum(SpendEntry.amount))
        .where(SpendEntry.campaign_id.in_(campaign_ids))
        .group_by(SpendEntry.campaign_id)
    )
    return {cid: Decimal(total) for cid, total in rows.all()}


async def record_spend(uow: UoW, campaign_id: str, body: SpendCreate) -> SpendEntry:
    """Money spent, in the budget currency, kept with its base-currency value at the ECB rate of its day."""
    campaign = await get_campaign(uow.session, campaign_id)
    if body.amount.currency != campaign.budget_currency:
        raise Invalid(
            f"spend must be in the budget currency {campaign.budget_currency}, not {body.amount.currency}",
            field="amount.currency",
        )
    check_amount(body.amount, "amount.amount")
    on = body.on or utcnow().date()
    base = uow.settings.base_currency
    try:
        in_base, fx = convert(body.amount, base, on)
    except ValueError:
        raise Invalid(f"no ECB reference rate for {body.amount.currency}", field="amount.currency") from None
    entry = SpendEntry(
        id=new_id("spd"),
        campaign_id=campaign.id,
        amount=body.amount.amount,
        currency=body.amount.currency,
        amount_base=in_base.amount,
        base_currency=base,
        fx_rate=fx.rate,
        fx_rate_date=fx.rate_date,
        note=body.note,
        on=on,
        created_at=utcnow(),
    )
    uow.session.add(entry)
    await uow.commit()
    return entry
