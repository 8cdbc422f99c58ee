"""Marketing's answers: table rows -> Public schemas and rows -> event payloads, one function per shape."""

from __future__ import annotations

from decimal import Decimal

from hanse.money import Money
from hanse.views import from_row
from services.marketing.contract import CampaignCreated, LeadCaptured, LeadConverted, LeadDisqualified, LeadQualified
from services.marketing.models import Campaign, CampaignPublic, Lead, LeadPublic, SpendEntry, SpendPublic, Utm


def campaign_public(campaign: Campaign, spent: Decimal) -> CampaignPublic:
    currency = campaign.budget_currency
    return CampaignPublic.model_validate(
        campaign.model_dump(),
        update={"budget": Money.of(campaign.budget_amount, currency), "spend": Money.of(spent, currency)},
    )


def spend_public(entry: SpendEntry) -> SpendPublic:
    return SpendPublic.model_validate(
        entry.model_dump(),
        update={
            "amount": Money.of(entry.amount, entry.currency),
            "amount_base": Money.of(entry.amount_base, entry.base_currency),
        },
    )


def lead_public(lead: Lead) -> LeadPublic:
    utm = None
    if lead.utm_source or lead.utm_medium or lead.utm_campaign:
        utm = Utm(source=lead.utm_source, medium=lead.utm_medium, campaign=lead.utm_campaign)
    return LeadPublic.model_validate(lead.model_dump(), update={"utm": utm})


def campaign_created(campaign: Campaign) -> CampaignCreated:
    budget = Money.of(campaign.budget_amount, campaign.budget_currency)
    return from_row(CampaignCreated, campaign, campaign_id=campaign.id, budget=budget)


def lead_captured(lead: Lead) -> LeadCaptured:
    return from_row(LeadCaptured, lead, lead_id=lead.id, captured_at=lead.created_at)


def lead_qualified(lead: Lead) -> LeadQualified:
    return from_row(LeadQualified, lead, lead_id=lead.id)


def lead_disqualified(lead: Lead) -> LeadDisqualified:
    return from_row(LeadDisqualified, lead, lead_id=lead.id, reason=lead.status_reason)


def lead_converted(lead: Lead) -> LeadConverted:
    return from_row(LeadConverted, lead, lead_id=lead.id)
