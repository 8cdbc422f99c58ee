"""Marketing's answers: table rows -> Public schemas and rows -> event payloads, one function per shape."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

from hanse.money import Money
from hanse.views import from_row
from services.marketing.contract import (
    CampaignCreated,
    LeadCaptured,
    LeadConverted,
    LeadDisqualified,
    LeadQualified,
    LeadScored,
)
from services.marketing.models import (
    Campaign,
    CampaignPublic,
    Lead,
    LeadPublic,
    SeoMetadata,
    SeoPublic,
    SpendEntry,
    SpendPublic,
    Subscriber,
    SubscriberPublic,
    Utm,
)


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


def subscriber_public(subscriber: Subscriber) -> SubscriberPublic:
    return SubscriberPublic.model_validate(subscriber.model_dump())


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


def lead_scored(lead: Lead) -> LeadScored:
    return from_row(LeadScored, lead, lead_id=lead.id)


# -- SEO -------------------------------------------------------------------------------------------------

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"


def product_page_url(storefront_url: str, meta: SeoMetadata) -> str:
    return f"{storefront_url}/{meta.language}/products/{meta.slug}"


def seo_public(meta: SeoMetadata, storefront_url: str) -> SeoPublic:
    return SeoPublic.model_validate(meta.model_dump(), update={"url": product_page_url(storefront_url, meta)})


def sitemap_xml(pages: dict[str, list[SeoMetadata]], storefront_url: str) -> bytes:
    """sitemaps.org 0.9: a <url> per product page and language, each listing every language's page
    as an hreflang alternate (itself included, as Google asks) and x-default (en, else the first)."""
    ET.register_namespace("", SITEMAP_NS)
    ET.register_namespace("xhtml", XHTML_NS)
    urlset = ET.Element(f"{{{SITEMAP_NS}}}urlset")
    # The home page always: the schema requires at least one <url>, even before any product has metadata.
    home = ET.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
    ET.SubElement(home, f"{{{SITEMAP_NS}}}loc").text = f"{storefront_url}/"
    for metas in pages.values():
        default = next((m for m in metas if m.language == "en"), metas[0])
        for meta in metas:
            url = ET.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
            ET.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = product_page_url(storefront_url, meta)
            ET.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = meta.updated_at.date().isoformat()
            alternates = [(other.language, other) for other in metas] + [("x-default", default)]
            for hreflang, other in alternates:
                link = ET.SubElement(url, f"{{{XHTML_NS}}}link")
                link.set("rel", "alternate")
                link.set("hreflang", hreflang)
                link.set("href", product_page_url(storefront_url, other))
    return ET.tostring(urlset, encoding="utf-8", xml_declaration=True)
