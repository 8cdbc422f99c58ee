"""Events the marketing department publishes (topic hanse.marketing)."""

from __future__ import annotations

from datetime import datetime

from hanse.events import EventPayload
from hanse.money import Money
from hanse.privacy import PrivacyAnswer


class CampaignCreated(EventPayload, event_type="marketing.campaign.created.v1", subject="campaign_id"):
    campaign_id: str
    name: str
    channel: str
    utm_campaign: str
    budget: Money


class LeadParty(EventPayload, subject="lead_id"):
    """Who a lead is: what compliance screens and sales opens an account with."""

    lead_id: str
    company: str
    contact_name: str
    email: str
    country: str
    language: str | None = None
    campaign_id: str | None = None


class LeadCaptured(LeadParty, event_type="marketing.lead.captured.v1"):
    """A lead arrived from the public form; compliance screens the party."""

    consent_marketing: bool
    captured_at: datetime


class LeadQualified(LeadParty, event_type="marketing.lead.qualified.v1"):
    """The lead passed screening; sales opens an account from it."""


class LeadDisqualified(EventPayload, event_type="marketing.lead.disqualified.v1", subject="lead_id"):
    lead_id: str
    reason: str


class LeadConverted(EventPayload, event_type="marketing.lead.converted.v1", subject="lead_id"):
    lead_id: str
    account_id: str
    campaign_id: str | None = None


class LeadScored(EventPayload, event_type="marketing.lead.scored.v1", subject="lead_id"):
    """A hot lead (score >= 70 of 100): sales may call it first. The reasons say what made the score."""

    lead_id: str
    score: int
    score_reasons: list[str]
    company: str
    country: str
    campaign_id: str | None = None


class PrivacyAnswered(PrivacyAnswer, event_type="marketing.privacy_request.answered.v1"):
    """Marketing's answer: leads and subscribers; an erased address stays on the suppression list."""
