"""Issue 11's GDPR "done when" on the real platform, through the gateway: one person known to every
department (lead, subscriber, account and contact, ticket, paid order and invoice, supplier contact,
staff login); an access request exports each department's records of them; an erasure request
completes with a report from every department and a proof, after which no API shows the address
any more while the invoices stay (finance says why and until when), and the address gets no
marketing mail again. A malformed address is a 422 problem and opens nothing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest

from ops.smtp import read_mail
from tests.e2e.conftest import Platform
from tests.e2e.flow import Gateway, unique

pytestmark = pytest.mark.e2e

EVERYONE = {"marketing", "sales", "finance", "logistics", "procurement", "gateway", "compliance"}


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[Gateway]:
    gateway = Gateway(platform)
    yield gateway
    await gateway.close()


def mail_to(platform: Platform, address: str) -> list:
    folder = platform.data_dir / "mail"
    if not folder.is_dir():
        return []
    return [m for m in read_mail(folder) if m["To"] and m["To"].addresses[0].addr_spec == address]


async def every(api: Gateway, path: str, **params) -> list[dict]:
    """All items of a cursor-paged list."""
    found: list[dict] = []
    cursor = None
    while True:
        page = await api.get(path, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})})
        found += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return found


async def privacy_request(api: Gateway, kind: str, email: str) -> dict:
    opened = await api.post("/compliance/privacy-requests", {"kind": kind, "email": email}, expect=202)
    assert opened["status"] == "open" and opened["due"], opened

    async def completed():
        state = await api.get(f"/compliance/privacy-requests/{opened['id']}")
        return state if state["status"] == "completed" else None

    return await api.eventually(completed, f"the {kind} request completes with every department's answer", 30)


async def test_access_then_erasure_of_one_person_across_every_department(platform: Platform, api: Gateway):
    email = f"{unique('gdpr').lower()}@kontor.example"
    company = unique("Kontor GmbH")
    public = httpx.AsyncClient(base_url=f"{platform.gateway}/api/v1", timeout=30)  # no token: public routes

    # Marketing: a lead from the public form (with consent) and a confirmed newsletter subscription.
    captured = await public.post(
        "/marketing/leads",
        json={
            "company": company,
            "contact_name": "Greta Kontor",
            "email": email,
            "country": "DE",
            "language": "de",
            "message": f"Please quote 50 pumps, write to {email}",
            "consent_marketing": True,
        },
    )
    assert captured.status_code == 202, captured.text
    lead_id = captured.json()["id"]
    subscribed = await public.post("/marketing/subscribers", json={"email": email, "language": "de", "consent": True})
    assert subscribed.status_code == 202, subscribed.text
    subscriber_id = subscribed.json()["id"]

    async def confirmation():
        return mail_to(platform, email)

    message = (await api.eventually(confirmation, "the confirmation mail"))[0]
    [link] = re.findall(r"http\S+/subscribers/confirm\?token=\S+", message.get_body(("plain",)).get_content())
    confirmed = await public.get(link)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed", confirmed.text

    # Sales: the screened lead becomes an account; a contact with the address; a ticket; a paid order.
    async def converted():
        lead = await api.get(f"/marketing/leads/{lead_id}")
        return lead if lead["status"] == "converted" and lead["account_id"] else None

    account_id = (await api.eventually(converted, "the lead is qualified and becomes an account"))["account_id"]
    account = await api.get(f"/sales/accounts/{account_id}")
    assert account["email"] == email
    contact = await api.post(
        f"/sales/accounts/{account_id}/contacts", {"name": "Greta Kontor", "email": email, "role": "buyer"}
    )
    ticket = await api.post(
        "/sales/tickets",
        {
            "account_id": account_id,
            "subject": f"Delivery question from {email}",
            "body": f"Greta Kontor here, please answer to {email}",
            "channel": "email",
            "priority": "normal",
        },
    )
    sku, _ = await api.stocked_product(5)
    order = await api.place_order(account_id, sku, 1, destination="DE", named_place="Hamburg")
    [invoice] = await api.eventually(lambda: api.invoices(order["id"]), "finance issues the invoice")
    await api.post(
        "/finance/payments",
        {"invoice_id": invoice["id"], "amount": invoice["total"], "method": "bank_transfer", "reference": "SEPA 1"},
    )
    await api.eventually(lambda: api.shipments(order["id"]), "the paid order is booked by logistics")

    # Procurement and the gateway know the address too: a sole-trader supplier, a staff login.
    supplier = await api.post(
        "/procurement/suppliers",
        {
            "name": unique("Kontor Einzelhandel"),
            "country": "DE",
            "currency": "EUR",
            "email": email,
            "lead_time_days": 5,
            "payment_terms": "net_30",
        },
    )
    password = "a-long-password-for-greta"
    await api.post("/auth/users", {"username": email, "password": password, "roles": ["sales"]})

    # A malformed address: a 422 problem naming the field, and no request opened.
    opened_before = await every(api, "/compliance/audit", action="privacy_request_opened")
    bad = await api.call("POST", "/compliance/privacy-requests", json={"kind": "erasure", "email": "greta@@kontor"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json"), bad.text
    assert "email" in bad.text
    assert await every(api, "/compliance/audit", action="privacy_request_opened") == opened_before

    # The gateway's timeline consumes every topic at its own pace: wait until it holds the person's
    # lead and order, so that what the requests find there is known (see the report on late events).
    async def timeline_caught_up():
        lead_events = {e["event"]["type"] for e in await every(api, "/events", correlation_id=lead_id)}
        order_events = {e["event"]["type"] for e in await every(api, "/events", correlation_id=order["id"])}
        return "marketing.lead.captured.v1" in lead_events and "logistics.shipment.booked.v1" in order_events

    await api.eventually(timeline_caught_up, "the gateway's timeline holds the lead's and the order's events", 30)

    # Access: the export holds each department's records of the person.
    access = await privacy_request(api, "access", email)
    assert set(access["departments"]) == EVERYONE
    assert all(d["status"] == "answered" for d in access["departments"].values()), access
    export = (await api.get(f"/compliance/privacy-requests/{access['id']}/export"))["departments"]
    assert set(export) == EVERYONE
    assert [lead["id"] for lead in export["marketing"]["leads"]] == [lead_id]
    assert [s["id"] for s in export["marketing"]["subscribers"]] == [subscriber_id]
    assert export["marketing"]["consent_records"]
    assert [a["id"] for a in export["sales"]["accounts"]] == [account_id]
    assert [c["id"] for c in export["sales"]["contacts"]] == [contact["id"]]
    assert [t["id"] for t in export["sales"]["tickets"]] == [ticket["id"]]
    assert order["id"] in [o["id"] for o in export["sales"]["orders"]]
    assert invoice["id"] in [i["id"] for i in export["finance"]["invoices"]]
    assert export["finance"]["payments"]
    assert order["id"] in [o["order_id"] for o in export["logistics"]["orders"]]
    assert [s["id"] for s in export["procurement"]["suppliers"]] == [supplier["id"]]
    assert [u["username"] for u in export["gateway"]["users"]] == [email]
    assert {e["correlation_id"] for e in export["gateway"]["timeline_events"]} >= {lead_id, order["id"]}, export[
        "gateway"
    ]
    assert {s["subject_id"] for s in export["compliance"]["screenings"]} >= {lead_id, account_id}
    assert access["departments"]["marketing"]["records"] >= 3 and access["departments"]["sales"]["records"] >= 4

    # Erasure: every department reports, the request completes with a proof.
    erasure = await privacy_request(api, "erasure", email)
    assert set(erasure["departments"]) == EVERYONE
    assert re.fullmatch(r"[0-9a-f]{64}", erasure["proof"] or ""), erasure
    reports = erasure["departments"]
    assert all(r["status"] == "answered" and r["records"] >= 1 for r in reports.values()), reports
    for department, report in reports.items():
        assert report["erased"] + report["pseudonymised"] >= 1, (department, report)
    [kept] = [r for r in reports["finance"]["retained"] if "invoice" in r["what"]]
    assert kept["why"] and date.fromisoformat(kept["until"]).year >= date.today().year + 10

    # Nothing shows the address any more; the invoice and the order remain.
    lead = await api.get(f"/marketing/leads/{lead_id}")
    assert email not in str(lead) and "Greta" not in str(lead)
    assert email not in str(await every(api, "/marketing/subscribers"))
    assert email not in str(await api.get(f"/sales/accounts/{account_id}"))
    assert email not in str(await every(api, f"/sales/accounts/{account_id}/contacts"))
    shown_ticket = await api.get(f"/sales/tickets/{ticket['id']}")
    assert email not in str(shown_ticket) and "Greta" not in str(shown_ticket), shown_ticket
    assert email not in str(await api.get(f"/procurement/suppliers/{supplier['id']}"))
    assert email not in str(await every(api, "/auth/users"))
    kept_invoice = await api.get(f"/finance/invoices/{invoice['id']}")
    assert kept_invoice["id"] == invoice["id"] and kept_invoice["total"] == invoice["total"]
    assert email not in str(kept_invoice)
    assert email not in str(await api.get(f"/logistics/orders/{order['id']}"))
    assert email not in str(await every(api, "/compliance/checks", order_id=order["id"]))
    assert (await api.order(order["id"]))["id"] == order["id"]
    # Compliance keeps no copy either: the earlier access request's export no longer holds the person.
    for request_id in (erasure["id"], access["id"]):
        kept_export = await api.get(f"/compliance/privacy-requests/{request_id}/export")
        assert email not in str(kept_export) and "Greta" not in str(kept_export), kept_export
    # The gateway's event timeline (history API, SSE, partner webhooks) keeps no copy either.
    for correlation_id in (lead_id, order["id"], erasure["id"]):
        timeline = await every(api, "/events", correlation_id=correlation_id)
        assert timeline and email not in str(timeline), (correlation_id, timeline)
    login = await public.post("/auth/token", data={"username": email, "password": password})
    assert login.status_code == 401, login.text

    # The address is suppressed: subscribing again is refused and mails nothing.
    mails_before = len(mail_to(platform, email))
    again = await public.post("/marketing/subscribers", json={"email": email, "consent": True})
    assert again.status_code in (409, 202), again.text
    if again.status_code == 202:
        await asyncio.sleep(1.0)  # the mail worker would have sent a confirmation by now
    assert email not in str(await every(api, "/marketing/subscribers"))
    assert len(mail_to(platform, email)) == mails_before, "no mail to an erased address"
    await public.aclose()
