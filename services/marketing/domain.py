"""Business rules of the marketing department: UTM attribution, consent, lead life cycle, campaign results."""

from __future__ import annotations

import ipaddress
import math
import re
import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import pycountry
from limits import RateLimitItem, parse, storage, strategies
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from hanse import outbox
from hanse.errors import Conflict, Invalid, NotFound
from hanse.events import utcnow
from hanse.ids import new_id
from hanse.money import Money, convert, ecb_rate, minor_unit, round_money
from hanse.settings import Settings
from services.marketing.contract import CampaignCreated, LeadCaptured
from services.marketing.models import (
    Campaign,
    CampaignCreate,
    CampaignPerformance,
    CampaignPublic,
    ConsentRecord,
    Lead,
    LeadCreate,
    PaidInvoice,
    PlacedOrder,
    SpendCreate,
    SpendEntry,
)

LeadStatus = Literal["new", "qualified", "disqualified", "converted"]
ScreeningResult = Literal["clear", "review", "blocked"]

CONSENT_PURPOSE = "marketing"
CONSENT_SOURCE = "lead_form"
ROAS_PLACES = Decimal("0.0001")

_UTM_CODE = re.compile(r"[A-Za-z0-9._-]{1,100}")
# BCP 47, simply: a 2-3 letter language, then subtags (script, region, variant) of 2-8 letters/digits.
_LANGUAGE_TAG = re.compile(r"([A-Za-z]{2,3})((?:-[A-Za-z0-9]{2,8})*)")


class MarketingSettings(BaseSettings):
    """Settings only the marketing service reads (HANSE_ environment variables)."""

    model_config = SettingsConfigDict(env_prefix="HANSE_", extra="ignore")

    # Public lead form: requests per client IP, in the `limits` notation ("10/minute", "100/hour").
    lead_rate_limit: str = "10/minute"
    # True only when the gateway is the sole way in: then the client IP comes from X-Forwarded-For.
    behind_gateway: bool = False
    # The version of the consent text the form shows; a form may send the version it displayed.
    consent_text_version: str = "2026-01"

    @field_validator("lead_rate_limit")
    @classmethod
    def _parsable(cls, v: str) -> str:
        parse(v)  # raises ValueError on a notation `limits` does not understand
        return v


# -- input rules -------------------------------------------------------------------------------------


def is_utm_code(value: str) -> bool:
    return _UTM_CODE.fullmatch(value) is not None


def normalise_utm_campaign(value: str | None) -> str | None:
    """UTM campaign codes match case-insensitively and ignore surrounding blanks."""
    if value is None:
        return None
    value = value.strip().lower()
    return value or None


def normalise_country(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def normalise_language(value: str) -> str:
    """'pt-br' → 'pt-BR'; the primary language must exist in ISO 639."""
    match = _LANGUAGE_TAG.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a language tag like 'de' or 'pt-BR'")
    primary = match.group(1).lower()
    known = pycountry.languages.get(alpha_2=primary) if len(primary) == 2 else pycountry.languages.get(alpha_3=primary)
    if known is None:
        raise ValueError(f"{primary!r} is not an ISO 639 language")
    subtags = []
    for sub in match.group(2).split("-")[1:]:
        if len(sub) == 2 and sub.isalpha():
            subtags.append(sub.upper())  # region
        elif len(sub) == 4 and sub.isalpha():
            subtags.append(sub.title())  # script
        else:
            subtags.append(sub.lower())
    return "-".join([primary, *subtags])


def check_minor_unit(money: Money, field: str) -> None:
    if money.amount != money.amount.quantize(minor_unit(money.currency)):
        raise Invalid(f"{money.amount} has more decimals than {money.currency} allows", field=field)


def check_fx_available(currency: str, base: str, field: str) -> None:
    """Spend is reported in the base currency, so the budget currency needs an ECB reference rate."""
    try:
        ecb_rate(currency, base)
    except ValueError:
        raise Invalid(f"no ECB reference rate for {currency}; campaigns are reported in {base}", field=field) from None


# -- the public form's rate limit -----------------------------------------------------------------------


def client_key(client_host: str | None, forwarded_for: list[str], behind_gateway: bool) -> str:
    """Who is asking: the peer address, or behind the gateway the address the gateway saw.

    The gateway appends the address it saw as the last X-Forwarded-For entry; entries before
    it came from the client and can be forged, so only the last one is trusted.
    """
    if behind_gateway:
        entries = [e.strip() for header in forwarded_for for e in header.split(",") if e.strip()]
        if entries:
            try:
                return str(ipaddress.ip_address(entries[-1]))
            except ValueError:
                pass
    return client_host or "unknown"


class LeadRateLimiter:
    """A moving-window limit per client, in memory: one per app instance (one per process)."""

    def __init__(self, limit: str) -> None:
        self.item: RateLimitItem = parse(limit)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def hit(self, key: str) -> int | None:
        """Count one request; None when allowed, else the seconds to wait (for Retry-After)."""
        if self._limiter.hit(self.item, "lead-form", key):
            return None
        reset_at = self._limiter.get_window_stats(self.item, "lead-form", key).reset_time
        return max(1, math.ceil(reset_at - time.time()))


# -- lead life cycle (never moves backwards; converted is terminal) -----------------------------------------


def screening_transition(status: str, result: str) -> LeadStatus | None:
    """The status a screening result moves a lead to, or None when it changes nothing.

    Only a new lead is decided: the first final result (clear or blocked) wins, `review`
    waits for the officer's decision, and results arriving after a decision are ignored.
    """
    if status != "new":
        return None
    if result == "clear":
        return "qualified"
    if result == "blocked":
        return "disqualified"
    return None


def account_converts(status: str, current_account_id: str | None, account_id: str) -> bool:
    """An account opened from the lead converts it, from any status (even disqualified: it happened)."""
    if status == "converted":
        return False  # terminal: a second account for the same lead does not replace the first
    return current_account_id in (None, account_id)


def screening_reason(reasons: list[str], default: str = "blocked by compliance screening") -> str:
    return "; ".join(r for r in reasons if r) or default


# -- campaign figures ------------------------------------------------------------------------------------


def return_on_ad_spend(revenue: Decimal, spend: Decimal) -> Decimal | None:
    """ROAS = paid revenue / spend, both in the base currency; None when nothing was spent."""
    if spend <= 0:
        return None
    return (revenue / spend).quantize(ROAS_PLACES, rounding=ROUND_HALF_UP)


def cost_per_lead(spend: Decimal, leads: int, currency: str) -> Money | None:
    if leads <= 0:
        return None
    return Money(amount=round_money(spend / leads, currency), currency=currency)


def to_base(amount: Decimal, currency: str, base: str, on: date) -> Decimal:
    if currency == base:
        return amount
    converted, _ = convert(Money(amount=amount, currency=currency), base, on)
    return converted.amount


# -- campaigns ---------------------------------------------------------------------------------------------


async def create_campaign(session: AsyncSession, body: CampaignCreate, settings: Settings) -> Campaign:
    check_minor_unit(body.budget, "budget.amount")
    if body.starts_on and body.ends_on and body.ends_on < body.starts_on:
        raise Invalid("ends_on is before starts_on", field="ends_on")
    check_fx_available(body.budget.currency, settings.base_currency, "budget.currency")
    taken = await session.exec(select(Campaign.id).where(Campaign.utm_campaign == body.utm_campaign))
    if taken.first() is not None:
        raise Conflict(f"utm_campaign {body.utm_campaign!r} is used by another campaign", field="utm_campaign")
    campaign = Campaign(
        id=new_id("cmp"),
        name=body.name,
        channel=body.channel,
        budget_amount=body.budget.amount,
        budget_currency=body.budget.currency,
        utm_campaign=body.utm_campaign,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        created_at=utcnow(),
    )
    session.add(campaign)
    await outbox.publish(
        session,
        CampaignCreated(
            campaign_id=campaign.id,
            name=campaign.name,
            channel=campaign.channel,
            utm_campaign=campaign.utm_campaign,
            budget=body.budget,
        ),
        correlation_id=campaign.id,
    )
    return campaign


async def commit_campaign(session: AsyncSession, campaign: Campaign) -> None:
    """Commit; a concurrent campaign that took the same code first turns into the same 409."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            f"utm_campaign {campaign.utm_campaign!r} is used by another campaign", field="utm_campaign"
        ) from None


async def get_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", field="id")
    return campaign


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


def campaign_public(campaign: Campaign, spent: Decimal) -> CampaignPublic:
    currency = campaign.budget_currency
    return CampaignPublic(
        id=campaign.id,
        name=campaign.name,
        channel=campaign.channel,  # type: ignore[arg-type]
        budget=Money.of(campaign.budget_amount, currency),
        utm_campaign=campaign.utm_campaign,
        spend=Money.of(spent, currency),
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        created_at=campaign.created_at,
    )


async def record_spend(session: AsyncSession, campaign: Campaign, body: SpendCreate, settings: Settings) -> SpendEntry:
    if body.amount.currency != campaign.budget_currency:
        raise Invalid(
            f"spend must be in the budget currency {campaign.budget_currency}, not {body.amount.currency}",
            field="amount.currency",
        )
    check_minor_unit(body.amount, "amount.amount")
    on = body.on or utcnow().date()
    base = settings.base_currency
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
    session.add(entry)
    return entry


# -- leads ---------------------------------------------------------------------------------------------------


async def campaign_for_utm(session: AsyncSession, utm_campaign: str | None) -> str | None:
    code = normalise_utm_campaign(utm_campaign)
    if code is None:
        return None
    found = await session.exec(select(Campaign.id).where(Campaign.utm_campaign == code))
    return found.first()


async def capture_lead(session: AsyncSession, body: LeadCreate, consent_text_version: str) -> Lead:
    """Store the lead with its UTM attribution and consent record, and tell compliance to screen it."""
    utm = body.utm
    now = utcnow()
    lead = Lead(
        id=new_id("lead"),
        status="new",
        campaign_id=await campaign_for_utm(session, utm.campaign if utm else None),
        company=body.company,
        contact_name=body.contact_name,
        email=str(body.email),
        country=body.country,
        language=body.language,
        message=body.message,
        utm_source=(utm.source or None) if utm else None,
        utm_medium=(utm.medium or None) if utm else None,
        utm_campaign=normalise_utm_campaign(utm.campaign) if utm else None,
        consent_marketing=body.consent_marketing,
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    # Declined consent is recorded too: proof that no marketing consent was given.
    session.add(
        ConsentRecord(
            id=new_id("cns"),
            lead_id=lead.id,
            email=lead.email,
            purpose=CONSENT_PURPOSE,
            granted=body.consent_marketing,
            text_version=body.consent_text_version or consent_text_version,
            source=CONSENT_SOURCE,
            recorded_at=now,
        )
    )
    await outbox.publish(
        session,
        LeadCaptured(
            lead_id=lead.id,
            company=lead.company,
            contact_name=lead.contact_name,
            email=lead.email,
            country=lead.country,
            language=lead.language,
            campaign_id=lead.campaign_id,
            consent_marketing=lead.consent_marketing,
            captured_at=now,
        ),
        correlation_id=lead.id,
    )
    return lead


async def get_lead(session: AsyncSession, lead_id: str) -> Lead:
    lead = await session.get(Lead, lead_id)
    if lead is None:
        raise NotFound(f"no lead {lead_id}", field="id")
    return lead


# -- performance -------------------------------------------------------------------------------------------


async def _count(session: AsyncSession, *where: object) -> int:
    result = await session.exec(select(func.count()).select_from(Lead).where(*where))
    return int(result.one())


async def campaign_performance(session: AsyncSession, campaign: Campaign, settings: Settings) -> CampaignPerformance:
    """Leads from the lead table; orders and paid revenue from sales' and finance's events.

    An order belongs to the campaign of its lead (order.lead_id), or else of the lead its
    account was opened from. The join is made here, at query time, so events arriving in any
    order across topics (invoice paid before order placed, order before account) count as soon
    as the last of them is in.
    """
    base = settings.base_currency
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
    revenue = Decimal(0)
    if order_ids:
        paid = await session.exec(select(PaidInvoice).where(PaidInvoice.order_id.in_(order_ids)))
        for invoice in paid.all():
            revenue += to_base(invoice.amount_base, invoice.base_currency, base, invoice.fx_rate_date)

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
        orders=len(order_ids),
        revenue=Money.of(revenue, base),
        spend=Money.of(spend, base),
        roas=return_on_ad_spend(revenue, spend),
        cost_per_lead=cost_per_lead(spend, leads, base),
        currency=base,
    )
