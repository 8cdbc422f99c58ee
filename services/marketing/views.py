"""Marketing's answers: table rows -> Public schemas and rows -> event payloads, one function per shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from hanse.events import EventPayload
from hanse.money import Money
from services.marketing.contract import CampaignCreated, LeadCaptured, LeadConverted, LeadDisqualified, LeadQualified
from services.marketing.models import Campaign, CampaignPublic, Lead, LeadPublic, SpendEntry, SpendPublic, Utm

P = TypeVar("P", bound=EventPayload)


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


def _payload(payload: type[P], row: Any, **given: Any) -> P:
    """An event payload from the row's fields of the same name, plus what the row calls otherwise."""
    return payload(**row.model_dump(include=set(payload.model_fields) - set(given)), **given)


def campaign_created(campaign: Campaign) -> CampaignCreated:
    budget = Money.of(campaign.budget_amount, campaign.budget_currency)
    return _payload(CampaignCreated, campaign, campaign_id=campaign.id, budget=budget)


def lead_captured(lead: Lead) -> LeadCaptured:
    return _payload(LeadCaptured, lead, lead_id=lead.id, captured_at=lead.created_at)


def lead_qualified(lead: Lead) -> LeadQualified:
    return _payload(LeadQualified, lead, lead_id=lead.id)


def lead_disqualified(lead: Lead) -> LeadDisqualified:
    return _payload(LeadDisqualified, lead, lead_id=lead.id, reason=lead.status_reason)


def lead_converted(lead: Lead) -> LeadConverted:
    return _payload(LeadConverted, lead, lead_id=lead.id)
