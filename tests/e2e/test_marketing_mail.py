"""Marketing's "done when" on the real platform, through the gateway: a subscription confirmed from the
.eml the SMTP sink wrote, a newsletter in the reader's language with the RFC 8058 headers, one-click
unsubscribe stopping all further mail, /sitemap.xml valid with its alternates, a lead's score."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import xmlschema
from lxml import etree

from ops.smtp import read_mail
from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e

XSD = Path(__file__).resolve().parents[1] / "data" / "sitemap" / "sitemap-hreflang.xsd"
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


async def until(check, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            assert result, f"not within {timeout}s"
            return result
        await asyncio.sleep(0.2)


def mail_to(platform: Platform, address: str) -> list[EmailMessage]:
    return [m for m in read_mail(platform.data_dir / "mail") if m["To"].addresses[0].addr_spec == address]


async def test_subscribe_confirm_newsletter_unsubscribe_sitemap_and_score(platform: Platform, api: Gateway):
    public = httpx.AsyncClient(base_url=platform.gateway, timeout=30)  # no token: the public routes
    reader = f"{unique('reader').lower()}@example.com"

    # Subscribe (public): the sink writes the German confirmation; its link confirms through the gateway.
    accepted = await public.post(
        "/api/v1/marketing/subscribers", json={"email": reader, "language": "de", "consent": True}
    )
    assert accepted.status_code == 202 and accepted.json()["status"] == "pending", accepted.text

    async def confirmation():
        found = mail_to(platform, reader)
        return found[0] if found else None

    message = await until(confirmation)
    assert message["Subject"] == "Bitte bestätigen Sie Ihr Abonnement des Hanse-Newsletters"
    [link] = re.findall(
        r"http\S+/api/v1/marketing/subscribers/confirm\?token=\S+", message.get_body(("plain",)).get_content()
    )
    assert link.startswith(platform.gateway), "the link leads to this platform's gateway"
    confirmed = await public.get(link)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed", confirmed.text
    assert (await public.get(link)).status_code == 409, "a link works once"

    # A newsletter reaches the confirmed reader in German, with the one-click headers.
    campaign = await api.post(
        "/marketing/campaigns",
        {
            "name": "Newsletter",
            "channel": "email",
            "budget": {"amount": "10.00", "currency": "EUR"},
            "utm_campaign": unique("news").lower(),
        },
    )
    texts = {"subject": {"en": "News", "de": "Neuigkeiten"}, "body": {"en": "Hello.", "de": "Hallo."}}
    emails = f"/marketing/campaigns/{campaign['id']}/emails"
    first = await api.post(emails, texts)
    await api.post(f"{emails}/{first['id']}/send", expect=202)

    async def sent(newsletter_id: str):
        state = await api.get(f"{emails}/{newsletter_id}")
        return state if state["status"] == "sent" else None

    state = await until(lambda: sent(first["id"]))
    assert state["sent"] >= 1 and state["failed"] == 0

    async def newsletter():
        found = mail_to(platform, reader)
        return found[1] if len(found) > 1 else None

    news = await until(newsletter)
    assert news["Subject"] == "Neuigkeiten" and "Hallo." in news.get_body(("plain",)).get_content()
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = news["List-Unsubscribe"].strip("<>")
    assert "/api/v1/marketing/unsubscribe?token=" in unsubscribe

    # One click (RFC 8058): no marketing mail to that address again.
    clicked = await public.post(
        unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert clicked.status_code == 200, clicked.text
    second = await api.post(emails, texts)
    await api.post(f"{emails}/{second['id']}/send", expect=202)
    await until(lambda: sent(second["id"]))
    await asyncio.sleep(1.0)  # the mail worker would have sent by now
    assert len(mail_to(platform, reader)) == 2, "nothing after the unsubscribe"
    again = await public.post("/api/v1/marketing/subscribers", json={"email": reader, "consent": True})
    assert again.status_code == 409

    # SEO: a product sales created gets pages in two languages; /sitemap.xml validates and carries them.
    sku = unique("SEO")
    await api.post(
        "/sales/products",
        {
            "sku": sku,
            "name": "Pump",
            "hs_code": "841370",
            "origin_country": "DE",
            "unit_price": {"amount": "10.00", "currency": "EUR"},
            "unit_weight_kg": "2.0",
        },
    )
    slug = sku.lower()

    async def page_written():
        response = await api.call(
            "PUT", f"/marketing/seo/products/{sku}/en", json={"title": "Pump", "description": "A pump.", "slug": slug}
        )
        return response.status_code == 200

    await until(page_written)
    await api.call(
        "PUT",
        f"/marketing/seo/products/{sku}/de",
        200,
        json={"title": "Pumpe", "description": "Eine Pumpe.", "slug": slug},
    )
    too_long = await api.call(
        "PUT", f"/marketing/seo/products/{sku}/de", json={"title": "T" * 61, "description": "x", "slug": slug}
    )
    assert too_long.status_code == 422 and too_long.json()["field"] == "title"
    sitemap = await public.get("/sitemap.xml")
    assert sitemap.status_code == 200 and sitemap.headers["content-type"].startswith("application/xml")
    xmlschema.XMLSchema(str(XSD)).validate(sitemap.text)
    doc = etree.fromstring(sitemap.content)
    [german] = [
        u
        for u in doc.xpath("//s:url", namespaces=NS)
        if u.findtext("s:loc", namespaces=NS).endswith(f"/de/products/{slug}")
    ]
    assert sorted(link.get("hreflang") for link in german.xpath("x:link", namespaces=NS)) == ["de", "en", "x-default"]
    assert german.xpath("x:link[@hreflang='de']/@href", namespaces=NS)[0].endswith(f"/de/products/{slug}")

    # A lead's score and reasons show.
    lead = await public.post(
        "/api/v1/marketing/leads",
        json={
            "company": "Nordlicht GmbH",
            "contact_name": "Greta",
            "email": "greta@nordlicht.example",
            "country": "DE",
            "message": "Please quote 500 pumps",
            "consent_marketing": True,
        },
    )
    assert lead.status_code == 202, lead.text
    shown = await api.get(f"/marketing/leads/{lead.json()['id']}")
    assert shown["score"] >= 70 and any("business email domain" in r for r in shown["score_reasons"])
    await public.aclose()
