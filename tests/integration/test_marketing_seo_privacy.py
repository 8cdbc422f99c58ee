"""Marketing's SEO pages and the gateway's /sitemap.xml; privacy requests; performance net of
cancellations and credit notes. Real broker, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import xmlschema
from lxml import etree
from sqlmodel import select

from hanse.events import CloudEvent
from hanse.money import Money
from ops.smtp import SmtpSink
from services.compliance.contract import PrivacyRequestOpened
from services.finance.contract import CreditNoteIssued
from services.marketing.app import build
from services.marketing.config import MarketingConfig
from services.marketing.domain import rules
from services.marketing.models import ConsentRecord, Lead, Subscriber, Suppression
from services.sales.contract import OrderCancelled, ProductCreated
from tests.conftest import free_port, make_settings
from tests.integration.test_marketing_api import (
    assert_problem,
    campaign_body,
    invoice_paid,
    lead_body,
    marketing_events,
    order_placed,
)
from tests.integration.test_marketing_mail import marketing, one_mail_to, subscribe
from tests.support.gateway import run_gateway
from tests.support.kafka import eventually
from tests.support.service import RunningService, serve_on_port

BASE = "/api/v1/marketing"
XSD = Path(__file__).resolve().parents[1] / "data" / "sitemap" / "sitemap-hreflang.xsd"
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}


def product(sku: str) -> ProductCreated:
    return ProductCreated(
        sku=sku,
        name=f"Product {sku}",
        hs_code="841370",
        origin_country="DE",
        unit_price=Money.of("100.00", "EUR"),
        unit_weight_kg=Decimal("2.5"),
    )


async def test_seo_metadata_and_the_gateway_sitemap_with_hreflang_alternates(settings, broker, tmp_path):
    config = MarketingConfig(storefront_url="https://shop.example")
    app = build(settings, config)
    async with serve_on_port(app, free_port()) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            svc = RunningService("marketing", app, client, settings)
            mk = svc.auth("marketing")
            await svc.deliver(product("PUMP-1"))
            await svc.deliver(product("PUMP-1"))  # the same fact twice changes nothing
            await svc.deliver(product("VALVE-2"))  # no metadata: left out of the sitemap
            page = f"{BASE}/seo/products/PUMP-1"
            body = {"title": "Kreiselpumpe P1", "description": "Edelstahl, 200 l/min.", "slug": "kreiselpumpe-p1"}

            async def known():
                response = await client.put(f"{page}/de", json=body, headers=mk)
                return response if response.status_code == 200 else None

            put = await eventually(known)
            assert put.json()["url"] == "https://shop.example/de/products/kreiselpumpe-p1"
            for language, slug in (("en", "centrifugal-pump-p1"), ("zh-hans", "li-xin-beng-p1")):
                answer = await client.put(f"{page}/{language}", json={**body, "slug": slug}, headers=mk)
                assert answer.status_code == 200, answer.text

            # Bad input: problem+json naming the field, nothing changed.
            for bad, field in (
                ({**body, "title": "T" * 61}, "title"),
                ({**body, "description": "D" * 161}, "description"),
                ({**body, "slug": "Kreisel Pumpe"}, "slug"),
                ({**body, "extra": 1}, "extra"),
            ):
                assert_problem(await client.put(f"{page}/de", json=bad, headers=mk), 422, field)
            assert_problem(await client.put(f"{BASE}/seo/products/NOPE/de", json=body, headers=mk), 404, "sku")
            assert_problem(await client.put(f"{page}/not-a-language-1", json=body, headers=mk), 422)
            taken = await client.put(f"{BASE}/seo/products/VALVE-2/de", json=body, headers=mk)
            assert_problem(taken, 409, "slug")
            assert (await client.put(f"{page}/de", json=body, headers=svc.auth("sales"))).status_code == 403
            got = (await client.get(f"{page}/de", headers=mk)).json()
            assert (got["title"], got["slug"]) == (body["title"], body["slug"])
            assert_problem(await client.get(f"{BASE}/seo/products/VALVE-2/de", headers=mk), 404, "language")

            gateway_settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
            async with run_gateway(gateway_settings, upstreams={"marketing": url}) as gw:
                response = await gw.client.get("/sitemap.xml")  # public: no token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    xmlschema.XMLSchema(str(XSD)).validate(response.text)
    doc = etree.fromstring(response.content)
    assert doc.xpath("//s:url/s:loc/text()", namespaces=NS) == [
        "https://shop.example/",
        "https://shop.example/de/products/kreiselpumpe-p1",
        "https://shop.example/en/products/centrifugal-pump-p1",
        "https://shop.example/zh-Hans/products/li-xin-beng-p1",
    ], "one <url> per page and language; VALVE-2 without metadata left out"
    for url in doc.xpath("//s:url[position() > 1]", namespaces=NS):
        hreflangs = sorted(link.get("hreflang") for link in url.xpath("x:link[@rel='alternate']", namespaces=NS))
        assert hreflangs == ["de", "en", "x-default", "zh-Hans"]
        [default] = url.xpath("x:link[@hreflang='x-default']/@href", namespaces=NS)
        assert default == "https://shop.example/en/products/centrifugal-pump-p1"


async def privacy_answer(svc: RunningService, request_id: str, expect: int) -> dict:
    async def answered():
        events = await marketing_events(svc, expect=expect)
        found = [e for e in events if e.type == "marketing.privacy_request.answered.v1" and e.subject == request_id]
        return found[0] if found else None

    event: CloudEvent = await eventually(answered)
    return event.data


async def test_privacy_requests_and_performance_net_of_cancellations_and_credit_notes(settings, smtp_sink: SmtpSink):
    """One service for both (each start waits for its consumer to join): erasure, then the figures."""
    async with marketing(settings, smtp_sink) as svc:
        email = "greta.berg@nordlicht.example"
        lead = (await svc.client.post(f"{BASE}/leads", json=lead_body(email="Greta.Berg@nordlicht.example"))).json()
        assert (await subscribe(svc, email, "de")).status_code == 202
        await one_mail_to(smtp_sink, email)
        other = (await svc.client.post(f"{BASE}/leads", json=lead_body(email="someone@else.example"))).json()
        due = date.today() + timedelta(days=30)

        await svc.deliver(PrivacyRequestOpened(request_id="pr-access", kind="access", email=email.upper(), due=due))
        answer = await privacy_answer(svc, "pr-access", expect=3)
        assert (answer["kind"], answer["department"], answer["records"]) == ("access", "marketing", 4)
        export = answer["export"]
        assert [entry["id"] for entry in export["leads"]] == [lead["id"]]
        assert export["subscribers"][0]["status"] == "pending" and export["suppressed"] is False
        assert export["consent_records"][0]["granted"] is True and len(export["mail"]) == 1

        await svc.deliver(PrivacyRequestOpened(request_id="pr-erase", kind="erasure", email=email, due=due))
        answer = await privacy_answer(svc, "pr-erase", expect=4)
        assert (answer["kind"], answer["erased"], answer["pseudonymised"]) == ("erasure", 1, 3)
        assert any("suppression list" in r["what"] for r in answer["retained"])
        async with svc.runtime.db.session() as session:
            leads = {row.id: row for row in (await session.exec(select(Lead))).all()}
            consents = (await session.exec(select(ConsentRecord))).all()
            subscribers = (await session.exec(select(Subscriber))).all()
            suppressed = (await session.exec(select(Suppression))).all()
        erased = leads[lead["id"]]
        assert erased.email.startswith("erased-") and erased.contact_name == "(erased)" and erased.message is None
        assert leads[other["id"]].email == "someone@else.example", "nobody else touched"
        assert sorted(c.email.startswith("erased-") for c in consents) == [False, True]
        assert subscribers == []
        assert [s.email_key for s in suppressed] == [rules.email_key(svc.app.state.config.secret, email)]
        assert_problem(await subscribe(svc, email), 409, "email")
        # Leads still count for their campaign's figures; the person is gone from them.
        got = (await svc.client.get(f"{BASE}/leads/{lead['id']}", headers=svc.auth("marketing"))).json()
        assert "greta" not in str(got).lower()

        await check_performance_net_of_cancellations_and_credit_notes(svc)


async def check_performance_net_of_cancellations_and_credit_notes(svc: RunningService) -> None:
    mk = svc.auth("marketing")
    campaign = (await svc.client.post(f"{BASE}/campaigns", json=campaign_body(), headers=mk)).json()
    lead = (await svc.client.post(f"{BASE}/leads", json=lead_body())).json()
    for order_id in ("ord-1", "ord-2", "ord-3"):
        await svc.deliver(order_placed(order_id, f"acc-{order_id}", lead["id"]))
        await svc.deliver(invoice_paid(f"inv-{order_id}", order_id, "1000.00"))
    # ord-2 paid then cancelled and refunded in full; ord-3 partly returned; one cancel arrives twice.
    await svc.deliver(OrderCancelled(order_id="ord-2", previous_status="confirmed", reason="buyer"))
    await svc.deliver(OrderCancelled(order_id="ord-2", previous_status="confirmed", reason="buyer"))
    for note_id, order_id, amount, reason in (
        ("cn-1", "ord-2", "1000.00", "cancellation"),
        ("cn-2", "ord-3", "250.00", "return"),
    ):
        note = CreditNoteIssued(
            credit_note_id=note_id,
            number=f"CN-2026-{note_id}",
            invoice_id=f"inv-{order_id}",
            order_id=order_id,
            account_id=f"acc-{order_id}",
            currency="EUR",
            subtotal=Money.of(amount, "EUR"),
            tax=Money.of("0.00", "EUR"),
            total=Money.of(amount, "EUR"),
            total_base=Money.of(amount, "EUR"),
            reason=reason,
        )
        await svc.deliver(note)
        await svc.deliver(note)

    async def settled():
        perf = (await svc.client.get(f"{BASE}/campaigns/{campaign['id']}/performance", headers=mk)).json()
        return perf if perf["credited"]["amount"] == "1250.00" and perf["cancelled_orders"] == 1 else None

    perf = await eventually(settled)
    assert perf["orders"] == 2
    assert perf["revenue"] == {"amount": "1750.00", "currency": "EUR"}, "3000 paid - 1250 credited"


async def test_the_gateway_sitemap_is_a_503_problem_naming_marketing_when_it_is_down(broker, tmp_path):
    settings = make_settings(broker.bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    async with run_gateway(settings, upstreams={"marketing": f"http://127.0.0.1:{free_port()}"}) as gw:
        response = await gw.client.get("/sitemap.xml")
    problem = assert_problem(response, 503)
    assert problem["department"] == "marketing"
